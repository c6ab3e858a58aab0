// What every fuzz target shares: the input as a file, and the one outcome a reader may have
// besides success.
//
// A reader given any bytes must either succeed or throw sm::Error (which the program turns
// into one line and exit 1). Anything else is a finding libFuzzer reports: a crash, a
// sanitizer error (ASan: memory, UBSan: overflow, bad shifts, ...), another exception
// (std::bad_alloc from a size taken on trust, a filesystem_error), a leak, a timeout.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "data/image.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace sm::fuzz {

// A folder of this process's own ($TMPDIR, else the RAM disk /dev/shm when there is one),
// removed when the process exits normally.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path* folder = [] {
    const char* tmpdir = std::getenv("TMPDIR");
    const std::filesystem::path base = tmpdir && *tmpdir ? std::filesystem::path(tmpdir)
                                       : std::filesystem::is_directory("/dev/shm") ? "/dev/shm"
                                                                                  : std::filesystem::temp_directory_path();
    auto* f = new std::filesystem::path(base / ("siammae-fuzz-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*f);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(*folder, ignored);
    });
    return f;
  }();
  return *folder;
}

// The input written to scratch()/name; returns its path.
inline std::string input_file(const uint8_t* data, size_t size, const std::string& name) {
  const std::string path = (scratch() / name).string();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

// Frames of at most this many pixels are decoded here. The default cap (50 Mpx) is itself
// tested in test_data; below it, a 2-Mpx frame runs the same decoder paths as a 47-Mpx one
// that costs a second under ASan, so the lower cap buys the fuzzer ~20x more inputs per second.
constexpr int64_t kFuzzMaxImagePixels = 2'000'000;

// Runs a reader; sm::Error is its allowed way to refuse the input. Afterwards the CPU
// allocator's cached blocks go back to the system: libFuzzer's memory limit counts them, and
// inputs of ever new sizes would fill the cache (up to 4 GiB) without anything leaking.
template <typename Body> void refuse_or_read(Body&& body) {
  static const bool capped = (sm::set_max_image_pixels(kFuzzMaxImagePixels), true);
  (void)capped;
  try {
    body();
  } catch (const sm::Error&) {
  }
  sm::release_cached_memory(sm::Device::CPU);
}

}  // namespace sm::fuzz
