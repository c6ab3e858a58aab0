#!/usr/bin/env bash
# Run here, before benchmarks/gpu/check.sh goes to a GPU machine that has the CUDA toolkit,
# PyTorch, meson, ninja and cmake but not our Debian headers and no package registry: copies
# the headers and static libraries the build needs into .gpu-deps/ (ignored by git, about 15
# MB), with pkg-config and CMake files that point into it, and the pkgconf program in case the
# machine has none. The device call then carries the folder:
#   benchmarks/gpu/prepare.sh
#   run(command="benchmarks/gpu/check.sh", carry=[".gpu-deps"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/../.."
deps=.gpu-deps
arch_lib=/usr/lib/x86_64-linux-gnu
for path in /usr/include/eigen3 /usr/include/stb /usr/include/nlohmann /usr/include/doctest /usr/include/zlib.h \
            $arch_lib/libstb.a $arch_lib/libz.a /usr/lib/cmake/doctest /usr/bin/pkgconf $arch_lib/libpkgconf.so.3; do
  [ -e "$path" ] || { echo "prepare: $path is missing; install the build's packages first (./run build)" >&2; exit 1; }
done

rm -rf "$deps"
mkdir -p "$deps/include" "$deps/lib/pkgconfig" "$deps/lib/cmake" "$deps/bin"
cp -r /usr/include/eigen3 /usr/include/stb /usr/include/nlohmann /usr/include/doctest "$deps/include/"
cp /usr/include/zlib.h /usr/include/zconf.h "$deps/include/"
cp $arch_lib/libstb.a $arch_lib/libz.a "$deps/lib/"  # static: nothing to find at run time
cp -r /usr/lib/cmake/doctest "$deps/lib/cmake/"     # its targets file finds include/ three folders up
cp /usr/bin/pkgconf "$deps/bin/pkgconf"
cp -L $arch_lib/libpkgconf.so.3 "$deps/lib/"
cat > "$deps/bin/pkg-config" <<'SCRIPT'
#!/bin/sh
# pkgconf with its library beside it (check.sh uses it where the machine has no pkg-config).
here=$(dirname "$0")
LD_LIBRARY_PATH="$here/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/pkgconf" "$@"
SCRIPT
chmod +x "$deps/bin/pkg-config"

# pkg-config files relative to where they lie, so the folder works wherever it lands.
pc() {  # name version cflags libs
  printf 'prefix=${pcfiledir}/../..\nName: %s\nDescription: copied by benchmarks/gpu/prepare.sh\nVersion: %s\nCflags: %s\nLibs: %s\n' \
    "$1" "$2" "$3" "$4" > "$deps/lib/pkgconfig/$1.pc"
}
pc eigen3 "$(pkg-config --modversion eigen3)" '-I${prefix}/include/eigen3' ''
pc stb "$(pkg-config --modversion stb)" '-I${prefix}/include/stb' '-L${prefix}/lib -lstb'
pc nlohmann_json "$(pkg-config --modversion nlohmann_json)" '-I${prefix}/include' ''
pc zlib "$(pkg-config --modversion zlib)" '-I${prefix}/include' '-L${prefix}/lib -lz'
echo "prepare: $(du -sh "$deps" | cut -f1) in $deps; carry it: run(..., carry=[\"$deps\"])"
