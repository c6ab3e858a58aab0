#!/usr/bin/env bash
# The CUDA backend proven on a GPU, in one run of about 6 minutes (written for an H200 machine
# with nvcc, cuBLAS, PyTorch as python3, meson, ninja and cmake, and no package registry):
#   1. build for that GPU only (sm_90 on an H200), with Eigen's own GEMM;
#   2. `meson test --suite cuda`: every op and kernel path against the CPU, the allocator,
#      fused AdamW, TF32, and the micro SiamMAE against PyTorch's fixtures (loss, every
#      gradient by name, 10 AdamW steps) in float32 and in bfloat16 autocast;
#   3. training steps of vits16 and small, ours against PyTorch eager on the same GPU: float32
#      with TF32 off on both, then bfloat16 autocast on both (pairs/s, peak memory);
#   4. `siammae` end to end on cuda: train tiny on the bundled clips in fp32 and in bf16 (the
#      gap between the loss curves), resume the bf16 run on the CPU, reconstruct, attention,
#      propagate on the bundled DAVIS sequences;
#   5. label propagation at 480p: frames/s with the encoder on the GPU.
# First, on a machine with the Debian packages: benchmarks/gpu/prepare.sh (fills .gpu-deps/).
# Then from the repository root on the GPU machine: benchmarks/gpu/check.sh (CHECK_SECONDS,
# 470 by default, bounds the whole run: a stage that would run past it is cut short).
# Everything printed also goes to $OUT/check.log (OUT defaults to ./gpu-check-out); each
# benchmark is one JSON line in $OUT/results.jsonl. Exits non-zero when a stage failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
OUT=${OUT:-$root/gpu-check-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/check.log") 2>&1
deps=$root/.gpu-deps
build=$root/build-gpu
results=$OUT/results.jsonl
: > "$results"
failed=()
started=$SECONDS
deadline=$((started + ${CHECK_SECONDS:-470}))  # the whole run stays under 8 minutes

stage() { echo; echo "== $* ($((SECONDS - started)) s)"; }
# Runs a command with a time limit (cut to what is left before the deadline); a failure is
# recorded and the script goes on.
try() {
  local limit=$1 name=$2
  shift 2
  local left=$((deadline - SECONDS))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 5 ]; then
    failed+=("$name (not run: out of time)")
    echo "!! $name not run: out of time"
    return 1
  fi
  timeout "$limit" "$@"
  local code=$?
  if [ $code -ne 0 ]; then
    failed+=("$name (exit $code$([ $code -eq 124 ] && echo ", over ${limit} s"))")
    echo "!! $name failed with exit code $code"
  fi
  return $code
}

# ---- 0. what the machine has ----
stage "0/5 tools"
export PATH="/usr/local/cuda/bin:$PATH"
python=$(command -v python3)
# A virtual environment's programs (meson, ninja, cmake from pip) sit beside its python3.
export PATH="$("$python" -c 'import os, sys; print(os.path.dirname(sys.executable))'):$PATH"
if command -v meson > /dev/null; then
  meson=(meson)
elif "$python" -c 'import mesonbuild' 2> /dev/null; then
  meson=("$python" -m mesonbuild.mesonmain)
else
  echo "!! no meson (neither a meson program nor python3's mesonbuild)"
  exit 1
fi
if ! command -v pkg-config > /dev/null; then
  export PATH="$deps/bin:$PATH"  # pkgconf as prepare.sh copied it
fi
[ -d "$deps/include/eigen3" ] || { echo "!! $deps is missing: run benchmarks/gpu/prepare.sh first and carry it"; exit 1; }
export PKG_CONFIG_PATH="$deps/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
echo "meson:      ${meson[*]} $("${meson[@]}" --version)"
echo "ninja:      $(command -v ninja) $(ninja --version)"
echo "cmake:      $(command -v cmake) $(cmake --version | head -1)"
echo "pkg-config: $(command -v pkg-config)"
echo "c++:        $(c++ --version | head -1)"
echo "nvcc:       $(command -v nvcc) $(nvcc --version | tail -1)"
echo "python3:    $python, torch $("$python" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name())')"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
echo "cpus:       $(nproc)"

# ---- 1. build ----
stage "1/5 build (sm_90, -Dblas=eigen, -Dmpi=disabled: data-parallel runs are checked elsewhere)"
if [ ! -f "$build/build.ninja" ]; then
  try 200 "meson setup" "${meson[@]}" setup "$build" --buildtype=release -Dblas=eigen -Dgpu_arch=90 -Dmpi=disabled \
    -Dcmake_prefix_path="$deps" || exit 1
fi
try 300 "build" ninja -C "$build" siammae tests/test_cuda benchmarks/gpu/bench_gpu_step benchmarks/bench_propagation \
  || exit 1

# ---- 2. tests ----
stage "2/5 meson test --suite cuda"
try 240 "cuda tests" "${meson[@]}" test -C "$build" --no-rebuild --suite cuda --print-errorlogs --timeout-multiplier 4
cp "$build/meson-logs/testlog.txt" "$OUT/testlog.txt"
grep -E "MESSAGE|test cases:|assertions:" "$OUT/testlog.txt"  # the model's errors, the counts

# ---- 3. training steps against PyTorch ----
stage "3/5 training steps, ours against PyTorch eager on this GPU (pairs/s, peak memory)"
step_bench() {  # config batch precision
  local config=$1 batch=$2 precision=$3 json
  json=$(mktemp)
  "$build/benchmarks/gpu/bench_gpu_step" --config "$config" --print-config > "$json"
  try 120 "ours $config $precision" "$build/benchmarks/gpu/bench_gpu_step" --config "$config" --batch "$batch" \
    --precision "$precision" --steps 20 --warmup 3 > >(tee -a "$results")
  try 120 "pytorch $config $precision" "$python" benchmarks/gpu/torch_step.py --config-json "$json" --batch "$batch" \
    --precision "$precision" --steps 20 --warmup 3 > >(tee -a "$results")
  sleep 0.2  # let tee write the line before the next one
}
for precision in fp32 bf16; do
  step_bench vits16 64 "$precision"
  step_bench small 64 "$precision"
done
"$python" - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
ours = {(r["config"], r["precision"]): r for r in rows if r["impl"] == "ours"}
print(f"{'config':8} {'precision':9} {'ours pairs/s':>12} {'torch pairs/s':>13} {'ratio':>6} {'ours MB':>8} {'torch MB':>8}")
for r in rows:
    if r["impl"] == "ours" or (r["config"], r["precision"]) not in ours:
        continue
    o = ours[(r["config"], r["precision"])]
    print(f"{r['config']:8} {r['precision']:9} {o['pairs_per_s']:12.1f} {r['pairs_per_s']:13.1f} "
          f"{o['pairs_per_s'] / r['pairs_per_s']:6.2f} {o['peak_tensor_mb']:8.0f} {r['peak_tensor_mb']:8.0f}")
PY

# ---- 4. siammae end to end on cuda ----
stage "4/5 siammae on cuda: train (fp32, bf16), resume on the CPU, reconstruct, attention, propagate"
runs=$(mktemp -d)
train=(train --config tiny --data data/samples/pretrain --steps 200 --batch 32 --blr 4e-3 --warmup 10% --eval-every 100
       --log-every 50 --workers 8 --device cuda)
try 150 "train fp32" "$build/siammae" "${train[@]}" --out "$runs/fp32" --precision fp32
try 150 "train bf16" "$build/siammae" "${train[@]}" --out "$runs/bf16" --precision bf16
cp "$runs/fp32/log.csv" "$OUT/loss_fp32.csv" 2> /dev/null
cp "$runs/bf16/log.csv" "$OUT/loss_bf16.csv" 2> /dev/null
"$python" - "$runs/fp32/log.csv" "$runs/bf16/log.csv" <<'PY'
import csv, sys
curves = [[float(row["loss"]) for row in csv.DictReader(open(path))] for path in sys.argv[1:]]
if min(len(c) for c in curves) < 40:
    sys.exit("loss curves too short to compare")
def smooth(c, k=20):
    return [sum(c[max(0, i - k + 1):i + 1]) / len(c[max(0, i - k + 1):i + 1]) for i in range(len(c))]
a, b = (smooth(c) for c in curves)
n = min(len(a), len(b))
gaps = [abs(x - y) / x for x, y in zip(a[:n], b[:n])]
print(f"loss (mean of 20 steps) fp32 {a[0]:.4f} -> {a[n - 1]:.4f}, bf16 {b[0]:.4f} -> {b[n - 1]:.4f}; "
      f"bf16 against fp32: largest gap {100 * max(gaps):.2f} %, at the end {100 * gaps[-1]:.2f} %")
PY
try 90 "resume on cpu" "$build/siammae" train --resume --out "$runs/bf16" --steps 202 --device cpu --workers 4
checkpoint=$runs/bf16/checkpoint.safetensors
pair=(data/samples/davis-240p/JPEGImages/240p/blackswan/{00000,00012}.jpg)
try 60 "reconstruct" "$build/siammae" reconstruct --device cuda --checkpoint "$checkpoint" --frames "${pair[@]}" \
  --out "$runs/reconstruct.png"
try 60 "attention" "$build/siammae" attention --device cuda --checkpoint "$checkpoint" --frames "${pair[@]}" \
  --out "$OUT/attention.png"
try 120 "propagate" "$build/siammae" propagate --device cuda --checkpoint "$checkpoint" \
  --davis data/samples/davis-240p --resolution 240p --size 240 --out "$runs/davis"

# ---- 5. propagation at 480p ----
stage "5/5 label propagation at 480p, encoder on the GPU"
for preset in tiny small vits16 vits8; do
  try 90 "propagation $preset" "$build/benchmarks/bench_propagation" --device cuda --preset "$preset" --frames 4 \
    --threads "$(nproc)"
done

stage "done"
if [ ${#failed[@]} -gt 0 ]; then
  printf '!! failed: %s\n' "${failed[@]}"
  exit 1
fi
echo "every stage passed"
