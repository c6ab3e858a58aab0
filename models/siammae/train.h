// SiamMAE pretraining: the loop behind `siammae train`.
//
// Every random choice of step k (which frames, crop, flip, which patches are masked) is drawn
// from generators seeded by (seed, k), so a run stopped at step k and resumed from its
// checkpoint continues exactly as if it had never stopped (on the CPU, with the same thread
// count). A run directory holds (and run_folder.h says how each is kept whole):
//   config.json                 every setting a resume keeps (these options, the model config)
//   log.csv                     step, epoch, loss, lr, pairs/s, data-wait share, seconds
//   loss.png                    the loss curve (raw and smoothed)
//   recon_<step>.png            rows: f1, masked f2, reconstruction, f2 (every eval_every steps)
//   checkpoint.safetensors      model + optimizer + step (see checkpoint.h)
//   .lock                       held by the trainer running in it
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "models/siammae/config.h"

namespace sm {

// The settings of a run. What each one means, its flag and the values it may take are in
// TrainOptions::fields() (train.cpp); `siammae train --help` prints them.
struct TrainOptions {
  SiamMAEConfig model = siammae_preset("tiny");
  std::vector<std::string> data;
  std::string out_dir;
  int64_t steps = 0, epochs = 0;
  int64_t batch = 64;
  double blr = 1.5e-4;
  std::string warmup = "5%";
  double min_lr = 0;
  double weight_decay = 0.05;
  double beta1 = 0.9, beta2 = 0.95;
  double clip_grad = 0;
  int64_t gap_min = 4, gap_max = 48, repeats = 2;
  double crop_scale_min = 0.5, hflip = 0.5, color_jitter = 0;
  int64_t workers = 2;
  int64_t threads = 0;
  uint64_t seed = 0;
  std::string device = "cpu";
  std::string precision = "fp32";
  int64_t eval_every = 100;
  int64_t log_every = 10;
  int64_t skip_nonfinite = 0;
  int64_t stop_after = 0;
  bool resume = false;
  // Data-parallel training (`mpirun -np N siammae train`, models/siammae/data_parallel.h):
  int64_t ranks = 1;           // the processes, each with `batch` pairs; set by train() from the launcher
  double dist_timeout = 600;   // seconds a rank waits for the others in a collective

  // One row per setting: JSON key, flag, help, allowed values.
  static const FieldTable<TrainOptions>& fields();
  // Every setting, and the derived "lr".
  nlohmann::json to_json() const;
  // Keys absent from `j` keep their defaults; an unknown key or a wrong type is an error.
  static TrainOptions from_json(const nlohmann::json& j);
  // Throws "[train] --flag ..." naming the first setting out of range or inconsistent.
  void validate() const;
  // The pairs of one step over all ranks.
  int64_t total_batch() const { return ranks * batch; }
  // The learning rate after the batch-size rule, on the total batch.
  double lr() const { return blr * static_cast<double>(total_batch()) / 256.0; }
  // Warmup steps for a run of `total_steps`.
  int64_t warmup_steps(int64_t total_steps) const;
};

struct TrainSummary {
  int64_t first_step = 0, last_step = 0, total_steps = 0;
  double first_loss = 0, last_loss = 0;  // mean loss of the first and of the last steps (up to 20)
  double pairs_per_second = 0;
  double data_wait_share = 0;  // fraction of the wall time spent waiting for the loader
  bool interrupted = false;    // stopped by a signal or stop_after before total_steps
  int stop_signal = 0;         // SIGINT or SIGTERM when one stopped the run, else 0
  int64_t skipped_batches = 0;  // over the whole run (see skip_nonfinite)
  // The device's caching allocator over the run: the most bytes tensors held at once, and the
  // most taken from the system (tensor/allocator.h).
  std::size_t peak_tensor_bytes = 0, peak_reserved_bytes = 0;
  int rank = 0;  // this process's rank in data-parallel training; only rank 0 reports
};

// Runs (or resumes) training and writes the run directory (see run_folder.h). Progress goes
// to `out`: one updating line on a terminal, else a line every log_every steps.
//
// SIGINT (Ctrl-C) and SIGTERM stop the run: the step under way is finished when its update
// was already applied, else abandoned; a checkpoint is saved and train() returns with
// stop_signal set (a second signal ends the process at once; every file stays whole).
//
// A step whose loss or gradients are not finite is never applied: training stops with an
// error naming the step, and the last checkpoint stays as it was, unless skip_nonfinite
// allows skipping that many such batches over the run.
//
// Throws "[train] ..." on a bad option, missing data, a run folder in use or not a run, or a
// non-finite step.
TrainSummary train(const TrainOptions& options, std::ostream& out);

}  // namespace sm
