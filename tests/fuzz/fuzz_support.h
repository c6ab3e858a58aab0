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

// Runs a reader; sm::Error is its allowed way to refuse the input.
template <typename Body> void refuse_or_read(Body&& body) {
  try {
    body();
  } catch (const sm::Error&) {
  }
}

}  // namespace sm::fuzz
