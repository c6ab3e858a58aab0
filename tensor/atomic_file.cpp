#include "tensor/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "tensor/error.h"

namespace sm {

namespace fs = std::filesystem;

namespace {

std::string parent_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path, const std::string& op, Durability durability)
    : path_(path), temp_(path + kTempSuffix), op_(op), durability_(durability) {
  std::error_code ignored;  // a folder that cannot be made shows up as the open's error below
  fs::create_directories(parent_of(path), ignored);
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  check(fd_ >= 0, op_, "cannot write ", temp_, ": ", std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(temp_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd_, bytes, size);
    if (written < 0 && errno == EINTR) continue;
    check(written > 0, op_, "writing ", temp_, " failed: ", written < 0 ? std::strerror(errno) : "nothing written");
    bytes += written;
    size -= static_cast<size_t>(written);
  }
}

void AtomicFile::commit() {
  if (durability_ == Durability::kSynced)
    check(::fsync(fd_) == 0, op_, "writing ", temp_, " failed: ", std::strerror(errno));
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0 || std::rename(temp_.c_str(), path_.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp_.c_str());
    fail(op_, closed != 0 ? "writing " + temp_ + " failed: " : "cannot rename " + temp_ + " to " + path_ + ": ",
         std::strerror(error));
  }
  if (durability_ == Durability::kSynced) sync_folder(parent_of(path_), op_);
}

void write_file_atomically(const std::string& path, const void* data, size_t size, const std::string& op,
                           Durability durability) {
  AtomicFile file(path, op, durability);
  file.write(data, size);
  file.commit();
}

void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes, const std::string& op,
                           Durability durability) {
  write_file_atomically(path, bytes.data(), bytes.size(), op, durability);
}

void write_file_atomically(const std::string& path, std::string_view text, const std::string& op,
                           Durability durability) {
  write_file_atomically(path, text.data(), text.size(), op, durability);
}

void sync_folder(const std::string& folder, const std::string& op) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  check(fd >= 0, op, "cannot open folder ", folder, ": ", std::strerror(errno));
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  check(synced == 0, op, "cannot flush folder ", folder, " to the disk: ", std::strerror(error));
}

}  // namespace sm
