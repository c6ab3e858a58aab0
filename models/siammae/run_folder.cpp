#include "models/siammae/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "data/files.h"
#include "models/siammae/pictures.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace sm {

namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

// ---------------- RunFolder ----------------

RunFolder::RunFolder(const std::string& path, bool resume) : path_(path) {
  const std::string shown = path_.string();
  // Refused before anything is written into the folder (the lock included).
  if (resume) {
    check(is_folder(shown), "train", "--resume: ", shown, " is not a folder");
    check(path_exists(checkpoint()), "train", "--resume: ", checkpoint(), " does not exist");
  } else if (!path_exists(file(kLockName))) {  // a folder of a trainer running now has one: its lock says so
    check_new(true);
    std::error_code error;
    fs::create_directories(path_, error);
    check(!error && is_folder(shown), "train", "cannot create the run folder ", shown, ": ",
          error ? error.message() : "a file of that name exists");
  }

  // The lock: held until this object (or the process) goes; the file holds the holder's pid.
  const std::string lock = file(kLockName);
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  check(lock_fd_ >= 0, "train", "cannot write ", lock, ": ", std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string holder = read_text(lock);
    ::close(lock_fd_);
    lock_fd_ = -1;
    fail("train", shown, " is in use by another siammae train (process ", holder.empty() ? "unknown" : holder,
         "); wait for it to finish, or choose another --out");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    // Only the message of a later, refused trainer depends on the pid: not worth failing for.
  }

  // Leftovers of writes a kill interrupted: only a trainer writes here, and we hold the lock.
  for (const fs::directory_entry& entry : fs::directory_iterator(path_))
    if (entry.is_regular_file() && entry.path().filename().string().ends_with(AtomicFile::kTempSuffix))
      fs::remove(entry.path());
  if (!resume) check_new(false);  // again, now that no other trainer can start one here
}

void RunFolder::check_new(bool before_lock) const {
  const std::string shown = path_.string();
  if (!path_exists(shown)) return;
  check(is_folder(shown), "train", "--out ", shown, " is a file, not a folder");
  check(!path_exists(checkpoint()), "train", checkpoint(),
        " already exists: pass --resume to continue that run, or choose another --out");
  check(!path_exists(config()), "train", shown,
        " holds a run that stopped before its first checkpoint: remove it, or choose another --out");
  for (const fs::directory_entry& entry : fs::directory_iterator(path_)) {
    const std::string name = entry.path().filename().string();
    // Before the lock, a trainer starting here at the same moment may have made its files.
    if (name == kLockName || (before_lock && name.ends_with(AtomicFile::kTempSuffix))) continue;
    fail("train", "--out ", shown, " is a folder that is not empty and not a run (it holds ", name,
         "); choose a new or empty folder");
  }
}

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

// ---------------- TrainLog ----------------

TrainLog::TrainLog(const std::string& path, int64_t done) : path_(path) {
  const bool fresh = !path_exists(path);
  check(!fresh || done == 0, "train", path, " is missing: the run's log is gone (its checkpoint holds step ", done,
        ")");
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  check(fd_ >= 0, "train", "cannot write ", path, ": ", std::strerror(errno));
  if (fresh) {
    const std::string header = std::string(kHeader) + "\n";
    check(::write(fd_, header.data(), header.size()) == static_cast<ssize_t>(header.size()), "train", "writing ",
          path, " failed: ", std::strerror(errno));
    return;
  }

  std::string text = read_text(path);
  check(text.starts_with(std::string(kHeader) + "\n"), "train", path, " is not a siammae train log (its first line is not ",
        kHeader, ")");
  // A row a kill cut short has no newline yet: it was never logged, so it is dropped.
  const size_t complete = text.rfind('\n') + 1;
  if (complete < text.size()) {
    check(::ftruncate(fd_, static_cast<off_t>(complete)) == 0, "train", "cannot repair ", path, ": ",
          std::strerror(errno));
    text.resize(complete);
  }
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);  // the header
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string step_text, epoch, loss_text;
    std::getline(fields, step_text, ',');
    std::getline(fields, epoch, ',');
    std::getline(fields, loss_text, ',');
    int64_t step = 0;
    double loss = 0;
    try {
      step = std::stoll(step_text);
      loss = std::stod(loss_text);
    } catch (const std::exception&) {
      fail("train", path, " has a malformed row: '", line, "'");
    }
    check(step == logged_until_ + 1, "train", path, " jumps from step ", logged_until_, " to step ", step);
    logged_until_ = step;
    if (step <= done) {
      steps_.push_back(static_cast<double>(step));
      losses_.push_back(loss);
    }
  }
  check(logged_until_ >= done, "train", path, " ends at step ", logged_until_, " but the checkpoint holds step ", done);
}

TrainLog::~TrainLog() {
  if (fd_ >= 0) ::close(fd_);
}

void TrainLog::add(int64_t step, double epoch, double loss, double lr, double pairs_per_s, double data_wait,
                   double elapsed) {
  steps_.push_back(static_cast<double>(step));
  losses_.push_back(loss);
  if (step <= logged_until_) return;  // logged before an interruption: that row stays
  char row[256];
  const int n = std::snprintf(row, sizeof(row), "%ld,%.4f,%.9g,%.6g,%.2f,%.4f,%.2f\n", static_cast<long>(step), epoch,
                              loss, lr, pairs_per_s, data_wait, elapsed);
  // One write per row: with O_APPEND a kill leaves the row whole or absent (a torn end is
  // only possible on power loss, and the next open drops it).
  check(::write(fd_, row, static_cast<size_t>(n)) == n, "train", "writing ", path_, " failed: ", std::strerror(errno));
  logged_until_ = step;
}

void TrainLog::sync() {
  check(::fdatasync(fd_) == 0, "train", "writing ", path_, " failed: ", std::strerror(errno));
}

// The mean of the first `window` finite values of [begin, end) (0 when there is none).
template <typename Iterator> static double mean_of_finite(Iterator begin, Iterator end, size_t window) {
  double sum = 0;
  size_t n = 0;
  for (Iterator it = begin; it != end && n < window; ++it)
    if (std::isfinite(*it)) sum += *it, ++n;
  return n == 0 ? 0 : sum / static_cast<double>(n);
}

double TrainLog::recent_loss(size_t window) const { return mean_of_finite(losses_.rbegin(), losses_.rend(), window); }

double TrainLog::first_loss(size_t window) const { return mean_of_finite(losses_.begin(), losses_.end(), window); }

void TrainLog::plot(const std::string& png) const {
  std::vector<double> smooth(losses_.size());  // the mean of the finite losses among the last kSmoothing
  for (size_t i = 0; i < losses_.size(); ++i) {
    double sum = 0;
    size_t n = 0;
    for (size_t j = i + 1 - std::min(i + 1, kSmoothing); j <= i; ++j)
      if (std::isfinite(losses_[j])) sum += losses_[j], ++n;
    smooth[i] = n == 0 ? NAN : sum / static_cast<double>(n);
  }
  write_png(png,
            plot_curves({{steps_, losses_, {170, 190, 230}, "loss per step"},
                         {steps_, smooth, {20, 60, 160}, "mean of 20 steps"}},
                        "siammae training loss", "step"),
            Durability::kSynced);
}

}  // namespace sm
