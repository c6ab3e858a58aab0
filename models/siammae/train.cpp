#include "models/siammae/train.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <deque>
#include <iostream>
#include <optional>
#include <sstream>

#include "autograd/autocast.h"
#include "data/loader.h"
#include "eval/progress.h"
#include "models/siammae/checkpoint.h"
#include "models/siammae/data_parallel.h"
#include "models/siammae/run_folder.h"
#include "models/siammae/visualize.h"
#include "nn/optim/optimizer.h"
#include "tensor/backend.h"

namespace sm {


// ---------------- options ----------------

const FieldTable<TrainOptions>& TrainOptions::fields() {
  using O = TrainOptions;
  static const FieldTable<O> table = [] {
    FieldTable<O> t("train", "option");
    const Allowed kBeta = interval(0, 1, "[)");
    t.add("model", &O::model, "", "the model config (--config, and the model flags below)")
        .add("data", &O::data, "data", "video roots, comma-separated: folders of frame folders (or one frame folder)")
        .add("out_dir", &O::out_dir, "out", "the run directory (config.json, log.csv, loss.png, recon_*.png, checkpoint)")
        .add("steps", &O::steps, "steps", "training steps (batches); or give --epochs", kNonNegative)
        .add("epochs", &O::epochs, "epochs", "passes over the videos, `repeats` pairs per video each", kNonNegative)
        .add("batch", &O::batch, "batch", "frame pairs per step (of each rank, under mpirun)", interval(1, 65536))
        .add("blr", &O::blr, "blr", "base learning rate; lr = blr * ranks * batch / 256", kPositive)
        .add("warmup", &O::warmup, "warmup", "linear warmup: steps, or a percentage of the steps like 5%")
        .add("min_lr", &O::min_lr, "min-lr", "learning rate at the end of the cosine", kNonNegative)
        .add("weight_decay", &O::weight_decay, "weight-decay", "AdamW weight decay (not on biases, norms, tokens)",
             kNonNegative)
        .add("beta1", &O::beta1, "beta1", "AdamW beta1", kBeta)
        .add("beta2", &O::beta2, "beta2", "AdamW beta2", kBeta)
        .add("clip_grad", &O::clip_grad, "clip-grad", "clip the global gradient norm to this; 0 = off", kNonNegative)
        .add("gap_min", &O::gap_min, "gap-min", "fewest frames between f1 and f2", at_least(1))
        .add("gap_max", &O::gap_max, "gap-max", "most frames between f1 and f2 (clamped to the clip)", at_least(1))
        .add("repeats", &O::repeats, "repeats", "pairs per loaded video (repeated sampling)", at_least(1))
        .add("crop_scale_min", &O::crop_scale_min, "crop-scale-min",
             "smallest random-resized-crop area fraction (the largest is 1)", interval(0, 1, "(]"))
        .add("hflip", &O::hflip, "hflip", "probability of a horizontal flip (same for both frames)", kProbability)
        .add("color_jitter", &O::color_jitter, "color-jitter", "brightness/contrast/saturation jitter strength; 0 = off",
             kNonNegative)
        .add("workers", &O::workers, "workers", "loader threads decoding ahead of training", interval(0, 1024))
        .add("threads", &O::threads, "threads", "CPU threads for the math; 0 = one per core", interval(0, 1024))
        .add("seed", &O::seed, "seed", "seed of every random draw (init, pairs, crops, masks)")
        .add("device", &O::device, "device", "cpu or cuda", one_of({"cpu", "cuda"}))
        .add("precision", &O::precision, "precision",
             "fp32; tf32 (float32 products on a GPU's TF32 tensor cores); or bf16 (matrix products in bfloat16, "
             "float32 weights, norms, softmax and loss)",
             one_of({"fp32", "tf32", "bf16"}))
        .add("eval_every", &O::eval_every, "eval-every", "steps between recon_<step>.png pictures and checkpoints",
             kPositive)
        .add("log_every", &O::log_every, "log-every", "steps between log lines when the output is not a terminal",
             kPositive)
        .add("skip_nonfinite", &O::skip_nonfinite, "skip-nonfinite",
             "batches whose loss or gradients are NaN/inf that may be skipped over the run; 0 = stop at the first",
             kNonNegative)
        .add("stop_after", &O::stop_after, "stop-after",
             "stop after this many steps of this run (checkpoint saved; not kept for later resumes); 0 = no limit",
             kNonNegative)
        .not_saved()
        .add("resume", &O::resume, "", "continue from out_dir/checkpoint.safetensors")
        .not_saved()
        .add("ranks", &O::ranks, "", "data-parallel processes, each with --batch pairs (mpirun -np)", at_least(1))
        .add("dist_timeout", &O::dist_timeout, "dist-timeout",
             "seconds a rank waits for the others in a step's all-reduce before ending the job (mpirun)", kPositive);
    return t;
  }();
  return table;
}

nlohmann::json TrainOptions::to_json() const {
  nlohmann::json j = fields().to_json(*this);
  j["lr"] = lr();  // for the reader; derived from blr, ranks and batch, so ignored by from_json
  return j;
}

TrainOptions TrainOptions::from_json(const nlohmann::json& j) {
  TrainOptions o;
  fields().read_json(j, o, {"lr"});
  return o;
}

void TrainOptions::validate() const {
  check(!data.empty(), "train", "--data is required: one or more folders of video frame folders");
  check(!out_dir.empty(), "train", "--out is required: the run directory");
  check(steps > 0 || epochs > 0, "train", "give --steps N or --epochs E");
  fields().check_values(*this);
  check(gap_min <= gap_max, "train", "--gap-min ", gap_min, " is larger than --gap-max ", gap_max);
  warmup_steps(1);  // throws on a malformed --warmup
  model.validate();
}

int64_t TrainOptions::warmup_steps(int64_t total_steps) const {
  const bool percent = !warmup.empty() && warmup.back() == '%';
  const std::string number = percent ? warmup.substr(0, warmup.size() - 1) : warmup;
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  check(!number.empty() && used == number.size() && value >= 0 && value <= (percent ? 100 : 1e15), "train",
        "--warmup must be a number of steps or a percentage like 5%, got '", warmup, "'");
  return percent ? static_cast<int64_t>(std::llround(value / 100.0 * static_cast<double>(total_steps)))
                 : static_cast<int64_t>(value);
}

namespace {

// Streams of the per-step random draws (see derive_seed).
constexpr uint64_t kInitStream = 101, kMaskStream = 102, kPictureStream = 103;
constexpr size_t kSmoothing = TrainLog::kSmoothing;

// ---------------- stopping on SIGINT and SIGTERM ----------------

// The signal that asked the run to stop, or 0. Set by the handler, read by the loop.
std::atomic<int> g_stop_signal{0};
void request_stop(int signal) { g_stop_signal = signal; }

// Installs the handler for the life of a run. SA_RESETHAND puts the default action back
// after the first signal, so a second one ends the process at once.
class StopOnSignals {
 public:
  StopOnSignals() {
    g_stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = request_stop;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~StopOnSignals() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  static int signal() { return g_stop_signal; }

 private:
  struct sigaction previous_int_ {}, previous_term_ {};
};

std::string signal_name(int signal) { return signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT (Ctrl-C)" : "a signal"; }

// Wall time and loader waits of the steps: the speed, data-wait share and time left shown in
// the progress line (over the last kSmoothing steps) and in the summary (over the whole run).
class StepTimer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit StepTimer(const PairLoader& loader)
      : loader_(loader), started_(Clock::now()), wait_before_(loader.wait_seconds()) {}

  void begin_step() { step_start_ = Clock::now(); }
  void end_step() {
    const double wait = loader_.wait_seconds() - wait_before_, seconds = since(step_start_);
    wait_before_ = loader_.wait_seconds();
    total_wait_ += wait, total_time_ += seconds;
    window_.emplace_back(seconds, wait);
    if (window_.size() > kSmoothing) window_.pop_front();
  }

  double seconds() const { return since(started_); }  // since this run started
  // Over the recent steps:
  double step_seconds() const { return window_time() / static_cast<double>(window_.size()); }
  double pairs_per_second(int64_t batch) const { return static_cast<double>(batch) / step_seconds(); }
  double wait_share() const { return window_wait() / window_time(); }
  // Over the whole run:
  double total_time() const { return total_time_; }
  double total_wait_share() const { return total_wait_ / total_time_; }

 private:
  static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
  double window_time() const {
    double sum = 0;
    for (const auto& [t, w] : window_) sum += t;
    return sum;
  }
  double window_wait() const {
    double sum = 0;
    for (const auto& [t, w] : window_) sum += w;
    return sum;
  }
  const PairLoader& loader_;
  const Clock::time_point started_;
  Clock::time_point step_start_;
  double wait_before_, total_wait_ = 0, total_time_ = 0;
  std::deque<std::pair<double, double>> window_;  // (step seconds, data-wait seconds) of recent steps
};

// ---------------- the steps of a run ----------------

// Where the run starts: step 0, or the checkpoint of the run being resumed (model, optimizer
// state, step, skipped batches), which must hold the model asked for.
Checkpoint starting_point(const TrainOptions& options, const std::string& checkpoint) {
  if (!options.resume) return {};
  Checkpoint resumed = read_checkpoint(checkpoint);
  check(resumed.config.to_json() == options.model.to_json(), "train", "--resume: the model in ", checkpoint,
        " (", resumed.config.to_json().dump(), ") differs from the one asked for (", options.model.to_json().dump(),
        ")");
  return resumed;
}

// The videos (a missing or empty data folder fails here, before any run folder is made).
VideoDataset open_videos(const TrainOptions& options) {
  VideoDatasetOptions dataset_options;
  dataset_options.min_frames = options.gap_min + 1;
  return VideoDataset::open(options.data, dataset_options);
}

// A loader of augmented pair batches (this rank's share of them) that starts at batch `first_batch`.
std::unique_ptr<PairLoader> open_loader(const TrainOptions& options, VideoDataset videos, int64_t first_batch,
                                        const DataParallel& ranks) {
  PairLoaderOptions o;
  o.image_size = options.model.image_size;
  o.crop_scale = {options.crop_scale_min, 1.0};
  o.hflip_prob = options.hflip;
  o.jitter = {options.color_jitter, options.color_jitter, options.color_jitter};
  o.batch_size = options.batch;
  o.workers = options.workers;
  o.seed = options.seed;
  o.gap_min = options.gap_min;
  o.gap_max = options.gap_max;
  o.repeats = options.repeats;
  ranks.shard(o);
  return std::make_unique<PairLoader>(std::move(videos), o, first_batch);
}

// The steps of the whole run: --steps, or --epochs rounded up to whole batches.
int64_t total_steps(const TrainOptions& options, int64_t pairs_per_epoch) {
  if (options.steps > 0) return options.steps;
  int64_t pairs = 0;
  const int64_t batch = options.total_batch();
  check(!__builtin_mul_overflow(options.epochs, pairs_per_epoch, &pairs) && pairs <= INT64_MAX - batch, "train",
        "--epochs ", options.epochs, " of ", pairs_per_epoch, " pairs is more steps than can be counted");
  return (pairs + batch - 1) / batch;
}

// The model and its optimizer: freshly initialized, or as the checkpoint left them.
struct Learner {
  std::unique_ptr<SiamMAE> model;
  std::unique_ptr<AdamW> optimizer;
};

Learner make_learner(const TrainOptions& options, const Checkpoint& resumed, Device device) {
  Generator init_gen(derive_seed(options.seed, kInitStream, 0));
  Learner l;
  l.model = std::make_unique<SiamMAE>(options.model, &init_gen);
  l.model->to(device);
  l.optimizer = std::make_unique<AdamW>(decay_groups(*l.model, options.weight_decay),
                                        AdamW::Options{.lr = options.lr(), .beta1 = options.beta1,
                                                       .beta2 = options.beta2, .eps = 1e-8});
  if (options.resume) {
    l.model->load_state_dict(resumed.model);
    l.optimizer->load_state_dict(resumed.optimizer);
  }
  return l;
}

// config.json: every setting of this run that later resumes keep.
void write_config(const TrainOptions& options, const RunFolder& run) {
  const std::string text = options.to_json().dump(2) + "\n";
  write_file_atomically(run.config(), text, "train", Durability::kSynced);
}

// A fixed batch of pairs and masks, reconstructed at every picture step so pictures compare.
struct PictureBatch {
  Tensor f1, f2;  // (P, 3, S, S)
  PairMasks masks;
};

PictureBatch picture_batch(const TrainOptions& options, const PairLoader& loader, const SiamMAE& model,
                           Device device) {
  const int64_t shown = std::min<int64_t>(4, options.batch);
  PairBatch first = loader.make_batch(0);
  PictureBatch pictures;
  pictures.f1 = first.f1.narrow(0, 0, shown).to(device);
  pictures.f2 = first.f2.narrow(0, 0, shown).to(device);
  Generator gen(derive_seed(options.seed, kPictureStream, 0));
  pictures.masks = model.sample_masks(shown, gen);
  return pictures;
}

// What became of one step.
struct StepResult {
  enum Outcome { kApplied, kNonFinite, kAbandoned } outcome = kApplied;
  double loss = 0;
  double grad_norm = 0;  // before clipping
};

// One optimization step on a batch at learning rate `lr`. The update is applied only when the
// loss and the gradients are finite, and no stop signal came during the forward and backward
// passes (that step is abandoned, to be done again after a resume). With several ranks, the
// loss and gradients are their means over the ranks, and a signal to any rank stops them all.
StepResult optimize(Learner& learner, const PairBatch& batch, int64_t step, double lr, const TrainOptions& options,
                    Device device, DataParallel& ranks) {
  learner.optimizer->set_lr(lr);
  Generator mask_gen(derive_seed(options.seed, kMaskStream, static_cast<uint64_t>(step)));
  SiamMAEOutput out;
  {
    AutocastGuard autocast(options.precision == "bf16");  // the backward keeps the products' precision
    out = learner.model->forward(batch.f1.to(device), batch.f2.to(device),
                                 ranks.sample_masks(*learner.model, options.batch, mask_gen));
  }
  learner.optimizer->zero_grad();
  out.loss.backward();
  StepResult result;
  result.loss = ranks.average(*learner.model, out.loss.item(), StopOnSignals::signal() != 0, step).loss;
  // The global gradient norm, clipped when asked (an infinite limit only measures it).
  result.grad_norm = clip_grad_norm(learner.model->parameters(), options.clip_grad > 0 ? options.clip_grad : INFINITY);
  if (!std::isfinite(result.loss) || !std::isfinite(result.grad_norm)) {
    result.outcome = StepResult::kNonFinite;
  } else if (ranks.should_stop(StopOnSignals::signal() != 0)) {
    result.outcome = StepResult::kAbandoned;
  } else {
    learner.optimizer->step();
  }
  return result;
}

// What a non-finite step was: "the loss is nan" or "the gradients are not finite (norm inf, ...)".
std::string nonfinite_what(const StepResult& r) {
  auto text = [](double v) {  // "nan" rather than printf's "-nan"
    std::ostringstream out;
    if (std::isnan(v)) out << "nan"; else out << v;
    return out.str();
  };
  return std::isfinite(r.loss) ? "the gradients are not finite (norm " + text(r.grad_norm) + ", loss " + text(r.loss) + ")"
                               : "the loss is " + text(r.loss);
}

// A step whose loss or gradients are not finite was not applied: one more skipped batch
// (announced after `line_break`) while --skip-nonfinite allows, else an error naming the step.
void skip_or_stop(const StepResult& result, int64_t step, int64_t saved_step, const TrainOptions& options,
                  int64_t& skipped, StatusLine& status) {
  check(skipped < options.skip_nonfinite, "train", "step ", step, ": ", nonfinite_what(result),
        "; the update was not applied and the last checkpoint is kept as it was (",
        saved_step >= 0 ? "step " + std::to_string(saved_step) : std::string("none yet"),
        "). Lower --blr, set --clip-grad, or let --skip-nonfinite N skip such batches");
  ++skipped;
  status.print("step " + std::to_string(step) + ": " + nonfinite_what(result) + "; batch skipped (" +
               std::to_string(skipped) + " of at most " + std::to_string(options.skip_nonfinite) + ")");
}

// The summary's mean losses (first and last fifth of the run, up to kSmoothing steps) and speed.
void add_speed_and_losses(TrainSummary& summary, const TrainLog& log, const StepTimer& timer, int64_t batch) {
  const size_t window = std::clamp<size_t>(static_cast<size_t>(summary.last_step) / 5, 1, kSmoothing);
  summary.first_loss = log.first_loss(window);
  summary.last_loss = log.recent_loss(window);
  const double time = timer.total_time();
  summary.pairs_per_second = time > 0 ? static_cast<double>(batch * (summary.last_step - summary.first_step)) / time : 0;
  summary.data_wait_share = time > 0 ? timer.total_wait_share() : 0;
}

// The line shown after a step: on a terminal it rewrites itself, elsewhere it is one line.
void print_progress(StatusLine& status, int64_t step, int64_t total, double epoch, double loss, double lr,
                    const StepTimer& timer, int64_t batch) {
  char line[256];
  std::snprintf(line, sizeof(line), "step %ld/%ld  epoch %.2f  loss %.4f  lr %.2e  %.1f pairs/s  data %2.0f%%  ETA %s",
                static_cast<long>(step), static_cast<long>(total), epoch, loss, lr, timer.pairs_per_second(batch),
                100 * timer.wait_share(), format_duration(static_cast<double>(total - step) * timer.step_seconds()).c_str());
  status.show(line);
}

// The checkpoint after `steps_done` steps (the log synced first, so it never lags behind the
// checkpoint), the loss curve and the picture of the step; every file synced to the disk.
void save_run(const RunFolder& run, Learner& learner, TrainLog& log, const PictureBatch& pictures,
              const TrainOptions& options, int64_t steps_done, double elapsed_seconds, int64_t skipped) {
  log.sync();
  save_checkpoint(run.checkpoint(), *learner.model, learner.optimizer.get(), options.to_json(), steps_done,
                  log.recent_loss(), elapsed_seconds, skipped, Durability::kSynced);
  log.plot(run.loss_plot());
  write_png(run.picture(steps_done), reconstruction_grid(*learner.model, pictures.f1, pictures.f2, pictures.masks),
            Durability::kSynced);
}

// The run's first lines: the model, the data, the steps and the learning rate; with several
// ranks how the batch and the lr scale, and after a resume on another number of ranks, that
// the pairs and the lr change.
void announce(std::ostream& out, const TrainOptions& options, int64_t ranks_before, const SiamMAE& model,
              const PairLoader& loader, const DataParallel& ranks, int64_t start, int64_t total, int64_t warmup) {
  out << "training " << options.model.name << " (" << model.parameter_count() << " parameters) on "
      << loader.videos() << " videos (" << loader.pairs_per_epoch() << " pairs per epoch), batch " << options.batch
      << "; steps " << start << " -> " << total << ", lr " << options.lr() << " (blr " << options.blr << "), warmup "
      << warmup << " steps, " << cpu_threads() << " threads, " << options.workers << " loader workers\n";
  if (options.ranks > 1)
    out << ranks.describe() << ": " << options.total_batch() << " pairs per step, lr = blr x " << options.ranks
        << " ranks x batch " << options.batch << " / 256 = " << options.lr() << "\n";
  if (options.resume && ranks_before != options.ranks)
    out << "note: the run went on " << ranks_before << " rank(s) and goes on with " << options.ranks
        << ": each step now takes " << options.total_batch() << " pairs, other pairs than it would have, at lr "
        << options.lr() << "\n";
}

// The last line of a run stopped before its end: by what, at which step, and how to go on.
void say_where_it_stopped(std::ostream& out, int stop_signal, const DataParallel& ranks, int64_t step, int64_t total,
                          const std::string& checkpoint) {
  const std::string cause = stop_signal != 0        ? " by " + signal_name(stop_signal)
                            : ranks.should_stop(false) ? std::string(" by a signal to another rank")
                                                       : std::string();
  out << "stopped" << cause << " at step " << step << " of " << total << "; " << checkpoint
      << " holds it: continue with --resume\n";
}

}  // namespace

TrainSummary train(const TrainOptions& asked, std::ostream& console) {
  asked.validate();
  const Device device = asked.device == "cuda" ? Device::CUDA : Device::CPU;
  // The ranks of data-parallel training (one without a launcher), joined before anything
  // touches the GPU: NCCL chooses each rank's. Rank 0 alone writes the run and reports.
  DataParallel ranks(device, asked.dist_timeout);
  TrainOptions options = asked;
  options.ranks = ranks.ranks();
  std::ostream& out = ranks.output(console);
  if (options.threads > 0) set_cpu_threads(static_cast<int>(options.threads));
  else ranks.share_cores();
  set_allow_tf32(options.precision == "tf32");
  reset_peak_memory(device);
  StopOnSignals stop_on_signals;  // from here on, Ctrl-C and SIGTERM end the run with a checkpoint

  // Set up: the data, the run folder (locked, rank 0's), where to start, the model, the log.
  VideoDataset videos = ranks.open_videos([&] { return open_videos(options); });
  std::optional<RunFolder> run;
  if (ranks.is_main()) run.emplace(options.out_dir, options.resume);
  const std::string checkpoint = RunFolder::checkpoint_in(options.out_dir);
  const Checkpoint resumed = starting_point(options, checkpoint);
  const int64_t start = resumed.step;
  std::unique_ptr<PairLoader> loader = open_loader(options, std::move(videos), start, ranks);
  const int64_t per_epoch = loader->pairs_per_epoch(), total = total_steps(options, per_epoch);
  check(start < total, "train", "the run is already at step ", start, " of ", total,
        "; pass a larger --steps or --epochs to go on");
  const int64_t warmup = options.warmup_steps(total);
  Learner learner = make_learner(options, resumed, device);
  ranks.check_same_parameters(*learner.model, "at the start");
  std::optional<TrainLog> log;
  if (run) {
    write_config(options, *run);
    log.emplace(run->log(), start);
  }
  const PictureBatch pictures = picture_batch(options, *loader, *learner.model, device);

  announce(out, options, asked.ranks, *learner.model, *loader, ranks, start, total, warmup);
  StatusLine status(&out, is_terminal(out));
  StepTimer timer(*loader);

  // Train: a step, its log row, the progress line, and at picture steps a checkpoint.
  TrainSummary summary;
  summary.first_step = summary.last_step = start;
  summary.total_steps = total;
  summary.skipped_batches = resumed.skipped_batches;
  int64_t step = start, saved_step = options.resume ? start : -1;
  auto save = [&] {
    if (run)
      save_run(*run, learner, *log, pictures, options, step, resumed.elapsed_seconds + timer.seconds(),
               summary.skipped_batches);
    saved_step = step;
  };
  while (step < total && !ranks.should_stop(StopOnSignals::signal() != 0)) {
    timer.begin_step();
    const PairBatch batch = loader->next();
    const double lr = warmup_cosine_lr(step, warmup, total, options.lr(), options.min_lr);
    const StepResult result = optimize(learner, batch, step, lr, options, device, ranks);
    if (result.outcome == StepResult::kAbandoned) break;
    timer.end_step();
    const double epoch = static_cast<double>((step + 1) * options.total_batch()) / static_cast<double>(per_epoch);
    ++step;
    if (log)
      log->add(step, epoch, result.loss, lr, timer.pairs_per_second(options.total_batch()), timer.wait_share(),
               resumed.elapsed_seconds + timer.seconds());
    if (result.outcome == StepResult::kNonFinite)
      skip_or_stop(result, step, saved_step, options, summary.skipped_batches, status);

    const bool picture_step = step % options.eval_every == 0;
    const bool stopping = ranks.should_stop(StopOnSignals::signal() != 0) ||
                          (options.stop_after > 0 && step - start >= options.stop_after);
    if (log && (status.terminal() || step % options.log_every == 0 || step == total || picture_step || stopping))
      print_progress(status, step, total, epoch, log->recent_loss(), lr, timer, options.total_batch());
    if (picture_step || step == total || stopping) {
      ranks.check_same_parameters(*learner.model, "after step " + std::to_string(step));
      save();
      status.end_line();
    }
    if (stopping) break;
  }

  summary.stop_signal = StopOnSignals::signal();
  // Stopped before or inside a step: by a signal to this process, or with several ranks, to any
  // of them (every rank agreed to stop, and rank 0 saves even when it was not the one signalled).
  if (ranks.should_stop(summary.stop_signal != 0) && saved_step != step) save();
  if (step < total) {
    status.end_line();
    say_where_it_stopped(out, summary.stop_signal, ranks, step, total, checkpoint);
  }
  summary.interrupted = step < total;
  summary.last_step = step;
  summary.rank = ranks.rank();
  if (log) add_speed_and_losses(summary, *log, timer, options.total_batch());
  const MemoryStats memory = memory_stats(device);
  summary.peak_tensor_bytes = memory.peak_allocated;
  summary.peak_reserved_bytes = memory.peak_reserved;
  return summary;
}

}  // namespace sm
