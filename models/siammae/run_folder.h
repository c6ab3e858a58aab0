// The run folder of `siammae train`, and the rules that keep it whole:
//
// - One trainer at a time: RunFolder holds an flock on RUN/.lock while it lives (the kernel
//   drops it when the process ends, however it ends). A second trainer fails at once, naming
//   the first one's process id.
// - A new run starts only in a new or empty folder, so nothing that is not a run's is ever
//   overwritten; an existing run continues only with --resume.
// - Every file is replaced through an AtomicFile and synced to the disk (tensor/atomic_file.h).
//   A kill in the middle of a write leaves "<file>.tmp", which opening the folder removes.
// - log.csv is only ever appended to (TrainLog): rows already in it stay, a resumed run adds
//   the steps it has not logged yet.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sm {

class RunFolder {
 public:
  // Creates the folder (a new run) or opens an existing run (resume), takes its lock and
  // removes leftovers of interrupted writes. Throws "[train] ..." when the folder is in use,
  // is not a run (or not a new one, unless resuming), or cannot be written.
  RunFolder(const std::string& path, bool resume);
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string checkpoint() const { return checkpoint_in(path_); }
  // The checkpoint of the run in `folder`, for readers that do not hold the folder (the
  // other ranks of data-parallel training).
  static std::string checkpoint_in(const std::filesystem::path& folder) {
    return (folder / "checkpoint.safetensors").string();
  }
  std::string config() const { return file("config.json"); }
  std::string log() const { return file("log.csv"); }
  std::string loss_plot() const { return file("loss.png"); }
  std::string picture(int64_t step) const { return file("recon_" + std::to_string(step) + ".png"); }

  static constexpr const char* kLockName = ".lock";

 private:
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Throws unless the folder is missing or empty: what a new run may start in.
  void check_new(bool before_lock) const;
  std::filesystem::path path_;
  int lock_fd_ = -1;
};

// log.csv: one row per step (step, epoch, loss, lr, pairs/s, data-wait share, seconds),
// appended as each step ends, and kept in memory for the loss curve and the running mean.
class TrainLog {
 public:
  static constexpr const char* kHeader = "step,epoch,loss,lr,pairs_per_s,data_wait,elapsed_s";
  static constexpr size_t kSmoothing = 20;  // steps in the running mean

  // Opens `path` for a run whose checkpoint holds `done` steps: a new log when done = 0 and
  // there is none. Rows of steps after `done` (logged before an interruption, never
  // checkpointed) stay in the file and are not written again when those steps are redone.
  // A row cut short by a kill is dropped. Throws when the file is not such a log.
  TrainLog(const std::string& path, int64_t done);
  ~TrainLog();
  TrainLog(const TrainLog&) = delete;
  TrainLog& operator=(const TrainLog&) = delete;

  // Records step `step` (1-based); a non-finite loss is logged but left out of the means.
  void add(int64_t step, double epoch, double loss, double lr, double pairs_per_s, double data_wait, double elapsed);
  // Flushes the rows to the disk (before a checkpoint, so the log never lags behind it).
  void sync();

  // Mean of the last `window` finite losses (all of them when fewer).
  double recent_loss(size_t window = kSmoothing) const;
  double first_loss(size_t window) const;
  // loss.png: every step's loss, and its running mean.
  void plot(const std::string& png) const;

 private:
  std::string path_;
  int fd_ = -1;
  int64_t logged_until_ = 0;  // the last step with a row in the file
  std::vector<double> steps_, losses_;
};

}  // namespace sm
