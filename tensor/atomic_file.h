// Writing files so that a crash, a kill or a full disk never leaves one half written.
//
// The bytes go to "<path>.tmp" in the same folder; commit() renames it over `path`, which
// POSIX file systems do atomically: a reader sees the old file or the new one, never a mix.
// With Durability::kSynced the temporary file is flushed to the disk (fsync) before the
// rename and the folder after it, so the new file also survives a power cut (a run's
// checkpoint, config and log); that costs milliseconds per file, too much for thousands of
// result masks, which use kRenamed. A writer destroyed without commit() (an exception)
// removes its temporary file; a process killed mid-write leaves "<path>.tmp" behind for the
// next writer to replace (or for the run folder to clean up, see models/siammae/run_folder.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sm {

enum class Durability {
  kRenamed,  // never half written; may be lost with the machine's power
  kSynced,   // also on the disk when commit() returns
};

class AtomicFile {
 public:
  static constexpr const char* kTempSuffix = ".tmp";

  // Creates the parent folder when missing and opens "<path>.tmp". Throws "[op] cannot write ...".
  AtomicFile(const std::string& path, const std::string& op, Durability durability = Durability::kRenamed);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Throws "[op] writing <temp> failed: <reason>" (e.g. no space left on the device).
  void write(const void* data, size_t size);
  // Makes the file appear at `path` (replacing any old one).
  void commit();

 private:
  std::string path_, temp_, op_;
  Durability durability_;
  int fd_ = -1;
};

// The whole file at once through an AtomicFile.
void write_file_atomically(const std::string& path, const void* data, size_t size, const std::string& op,
                           Durability durability = Durability::kRenamed);
void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes, const std::string& op,
                           Durability durability = Durability::kRenamed);
void write_file_atomically(const std::string& path, std::string_view text, const std::string& op,
                           Durability durability = Durability::kRenamed);

// Flushes a folder's entries (file creations, renames) to the disk.
void sync_folder(const std::string& folder, const std::string& op);

}  // namespace sm
