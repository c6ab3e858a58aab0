#include "models/siammae/train.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>

#include "autograd/autocast.h"
#include "data/loader.h"
#include "eval/progress.h"
#include "models/siammae/checkpoint.h"
#include "models/siammae/visualize.h"
#include "nn/optim/optimizer.h"
#include "tensor/backend.h"

namespace sm {

namespace fs = std::filesystem;

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
        .add("batch", &O::batch, "batch", "frame pairs per step", kPositive)
        .add("blr", &O::blr, "blr", "base learning rate; lr = blr * batch / 256", kPositive)
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
        .add("workers", &O::workers, "workers", "loader threads decoding ahead of training", kNonNegative)
        .add("threads", &O::threads, "threads", "CPU threads for the math; 0 = one per core", kNonNegative)
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
        .add("stop_after", &O::stop_after, "stop-after",
             "stop after this many steps of this run (checkpoint saved); 0 = no limit", kNonNegative)
        .add("resume", &O::resume, "", "continue from out_dir/checkpoint.safetensors");
    return t;
  }();
  return table;
}

nlohmann::json TrainOptions::to_json() const {
  nlohmann::json j = fields().to_json(*this);
  j["lr"] = lr();  // for the reader; derived from blr and batch, so ignored by from_json
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
  check(!number.empty() && used == number.size() && value >= 0 && (!percent || value <= 100), "train",
        "--warmup must be a number of steps or a percentage like 5%, got '", warmup, "'");
  return percent ? static_cast<int64_t>(std::llround(value / 100.0 * static_cast<double>(total_steps)))
                 : static_cast<int64_t>(value);
}

namespace {

// Streams of the per-step random draws (see derive_seed).
constexpr uint64_t kInitStream = 101, kMaskStream = 102, kPictureStream = 103;
constexpr int64_t kSmoothing = 20;  // steps in the running mean shown as "loss"

// The files of a run directory.
struct RunFiles {
  fs::path folder;
  std::string checkpoint() const { return (folder / "checkpoint.safetensors").string(); }
  std::string config() const { return (folder / "config.json").string(); }
  std::string log() const { return (folder / "log.csv").string(); }
  std::string loss_plot() const { return (folder / "loss.png").string(); }
  std::string picture(int64_t step) const { return (folder / ("recon_" + std::to_string(step) + ".png")).string(); }
};

// Ctrl-C asks the loop to stop after the current step and save a checkpoint.
std::atomic<bool> g_stop_requested{false};
void request_stop(int) { g_stop_requested = true; }

struct StopHandler {
  void (*previous)(int);
  StopHandler() : previous(std::signal(SIGINT, request_stop)) { g_stop_requested = false; }
  ~StopHandler() { std::signal(SIGINT, previous); }
};

// The log: one CSV row per step, kept in memory too for the loss curve.
class TrainLog {
 public:
  static constexpr const char* kHeader = "step,epoch,loss,lr,pairs_per_s,data_wait,elapsed_s";

  // A fresh log, or (resuming from a checkpoint after `done` steps) the rows of those steps;
  // later rows are from steps whose checkpoint was never written, and are dropped.
  TrainLog(const std::string& path, int64_t done) {
    std::vector<std::string> kept;
    if (done > 0) {
      std::ifstream in(path);
      std::string line;
      std::getline(in, line);
      while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string step, epoch, loss;
        if (!std::getline(fields, step, ',') || !std::getline(fields, epoch, ',') || !std::getline(fields, loss, ','))
          continue;
        if (std::stoll(step) > done) break;
        kept.push_back(line);
        steps_.push_back(static_cast<double>(std::stoll(step)));
        losses_.push_back(std::stod(loss));
      }
    }
    out_.open(path, std::ios::trunc);
    check(out_.good(), "train", "cannot write ", path);
    out_ << kHeader << "\n";
    for (const std::string& line : kept) out_ << line << "\n";
  }

  void add(int64_t step, double epoch, double loss, double lr, double pairs_per_s, double data_wait, double elapsed) {
    char row[256];
    std::snprintf(row, sizeof(row), "%ld,%.4f,%.9g,%.6g,%.2f,%.4f,%.2f", static_cast<long>(step), epoch, loss, lr,
                  pairs_per_s, data_wait, elapsed);
    out_ << row << "\n";
    steps_.push_back(static_cast<double>(step));
    losses_.push_back(loss);
  }
  void flush() { out_.flush(); }

  // Mean of the last `window` losses (all of them when fewer).
  double recent_loss(size_t window = kSmoothing) const {
    const size_t n = std::min(window, losses_.size());
    return n == 0 ? 0 : std::accumulate(losses_.end() - n, losses_.end(), 0.0) / static_cast<double>(n);
  }
  double first_loss(size_t window) const {
    const size_t n = std::min(window, losses_.size());
    return n == 0 ? 0 : std::accumulate(losses_.begin(), losses_.begin() + n, 0.0) / static_cast<double>(n);
  }

  // loss.png: every step's loss, and its running mean.
  void plot(const std::string& png) const {
    std::vector<double> smooth(losses_.size());
    double sum = 0;
    for (size_t i = 0; i < losses_.size(); ++i) {
      sum += losses_[i] - (i >= kSmoothing ? losses_[i - kSmoothing] : 0.0);
      smooth[i] = sum / static_cast<double>(std::min<size_t>(i + 1, kSmoothing));
    }
    write_png(png, plot_curves({{steps_, losses_, {170, 190, 230}, "loss per step"},
                                {steps_, smooth, {20, 60, 160}, "mean of 20 steps"}},
                               "siammae training loss", "step"));
  }

 private:
  std::ofstream out_;
  std::vector<double> steps_, losses_;
};

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
// state, step). A fresh run must not overwrite a checkpoint.
Checkpoint starting_point(const TrainOptions& options, const RunFiles& files) {
  Checkpoint resumed;
  const std::string path = files.checkpoint();
  if (options.resume) {
    check(fs::exists(path), "train", "--resume: ", path, " does not exist");
    resumed = read_checkpoint(path);
    check(resumed.config.to_json() == options.model.to_json(), "train", "--resume: the model in ", path, " (",
          resumed.config.to_json().dump(), ") differs from the one asked for (", options.model.to_json().dump(), ")");
  } else {
    check(!fs::exists(path), "train", path,
          " already exists: pass --resume to continue that run, or choose another --out");
  }
  return resumed;
}

// The videos, and a loader of augmented pair batches that starts at batch `first_batch`.
std::unique_ptr<PairLoader> open_loader(const TrainOptions& options, int64_t first_batch) {
  VideoDatasetOptions dataset_options;
  dataset_options.min_frames = options.gap_min + 1;
  VideoDataset dataset = VideoDataset::open(options.data, dataset_options);
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
  return std::make_unique<PairLoader>(std::move(dataset), o, first_batch);
}

// The steps of the whole run: --steps, or --epochs rounded up to whole batches.
int64_t total_steps(const TrainOptions& options, int64_t pairs_per_epoch) {
  return options.steps > 0 ? options.steps : (options.epochs * pairs_per_epoch + options.batch - 1) / options.batch;
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

// config.json: every setting of this run.
void write_config(const TrainOptions& options, const RunFiles& files) {
  std::ofstream config(files.config());
  config << options.to_json().dump(2) << "\n";
  check(config.good(), "train", "cannot write ", files.config());
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

// One optimization step on a batch at learning rate `lr`; returns the loss.
double optimize(Learner& learner, const PairBatch& batch, int64_t step, double lr, const TrainOptions& options,
                Device device) {
  learner.optimizer->set_lr(lr);
  Generator mask_gen(derive_seed(options.seed, kMaskStream, static_cast<uint64_t>(step)));
  SiamMAEOutput result;
  {
    AutocastGuard autocast(options.precision == "bf16");  // the backward keeps the products' precision
    result = learner.model->forward(batch.f1.to(device), batch.f2.to(device),
                                    learner.model->sample_masks(options.batch, mask_gen));
  }
  learner.optimizer->zero_grad();
  result.loss.backward();
  if (options.clip_grad > 0) clip_grad_norm(learner.model->parameters(), options.clip_grad);
  learner.optimizer->step();
  const double loss = result.loss.item();
  check(std::isfinite(loss), "train", "the loss became ", loss, " at step ", step,
        "; lower --blr or set --clip-grad (the last checkpoint is kept)");
  return loss;
}

// The line shown after a step: on a terminal it rewrites itself, elsewhere it is one line.
void print_progress(StatusLine& status, int64_t step, int64_t total, double epoch, double loss,
                    double lr, const StepTimer& timer, int64_t batch) {
  char line[256];
  std::snprintf(line, sizeof(line), "step %ld/%ld  epoch %.2f  loss %.4f  lr %.2e  %.1f pairs/s  data %2.0f%%  ETA %s",
                static_cast<long>(step), static_cast<long>(total), epoch, loss, lr, timer.pairs_per_second(batch),
                100 * timer.wait_share(), format_duration(static_cast<double>(total - step) * timer.step_seconds()).c_str());
  status.show(line);
}

// The checkpoint after `steps_done` steps, the log and its curve, and the picture of the step.
void save_run(const RunFiles& files, Learner& learner, TrainLog& log, const PictureBatch& pictures,
              const TrainOptions& options, int64_t steps_done, double elapsed_seconds) {
  save_checkpoint(files.checkpoint(), *learner.model, learner.optimizer.get(), options.to_json(), steps_done,
                  log.recent_loss(), elapsed_seconds);
  log.flush();
  log.plot(files.loss_plot());
  write_png(files.picture(steps_done), reconstruction_grid(*learner.model, pictures.f1, pictures.f2, pictures.masks));
}

}  // namespace

TrainSummary train(const TrainOptions& options, std::ostream& out) {
  options.validate();
  if (options.threads > 0) set_cpu_threads(static_cast<int>(options.threads));
  const Device device = options.device == "cuda" ? Device::CUDA : Device::CPU;
  set_allow_tf32(options.precision == "tf32");
  reset_peak_memory(device);
  const RunFiles files{options.out_dir};
  fs::create_directories(files.folder);

  // Set up: where to start, the data, the model, the files.
  const Checkpoint resumed = starting_point(options, files);
  const int64_t start = resumed.step;
  std::unique_ptr<PairLoader> loader = open_loader(options, start);
  const int64_t per_epoch = loader->pairs_per_epoch(), total = total_steps(options, per_epoch);
  check(start < total, "train", "the run is already at step ", start, " of ", total,
        "; pass a larger --steps or --epochs to go on");
  const int64_t warmup = options.warmup_steps(total);
  Learner learner = make_learner(options, resumed, device);
  write_config(options, files);
  TrainLog log(files.log(), start);
  const PictureBatch pictures = picture_batch(options, *loader, *learner.model, device);

  out << "training " << options.model.name << " (" << learner.model->parameter_count() << " parameters) on "
      << loader->videos() << " videos (" << per_epoch << " pairs per epoch), batch " << options.batch << "; steps "
      << start << " -> " << total << ", lr " << options.lr() << " (blr " << options.blr << "), warmup " << warmup
      << " steps, " << cpu_threads() << " threads, " << options.workers << " loader workers\n";
  StatusLine status(&out, is_terminal(out));
  StopHandler stop_handler;
  StepTimer timer(*loader);

  // Train: a step, its log row, the progress line, and at picture steps a checkpoint.
  TrainSummary summary{start, start, total, 0, 0, 0, 0, false};
  int64_t step = start;
  while (step < total) {
    timer.begin_step();
    const PairBatch batch = loader->next();
    const double lr = warmup_cosine_lr(step, warmup, total, options.lr(), options.min_lr);
    const double loss = optimize(learner, batch, step, lr, options, device);
    timer.end_step();
    const double epoch = static_cast<double>((step + 1) * options.batch) / static_cast<double>(per_epoch);
    ++step;
    log.add(step, epoch, loss, lr, timer.pairs_per_second(options.batch), timer.wait_share(),
            resumed.elapsed_seconds + timer.seconds());

    const bool picture_step = step % options.eval_every == 0;
    const bool stopping = g_stop_requested || (options.stop_after > 0 && step - start >= options.stop_after);
    if (status.terminal() || step % options.log_every == 0 || step == total || picture_step || stopping)
      print_progress(status, step, total, epoch, log.recent_loss(), lr, timer, options.batch);
    if (picture_step || step == total || stopping) {
      save_run(files, learner, log, pictures, options, step, resumed.elapsed_seconds + timer.seconds());
      status.end_line();
    }
    if (stopping) {
      summary.interrupted = step < total;
      out << "stopped at step " << step << " of " << total << "; " << files.checkpoint()
          << " holds it: continue with --resume\n";
      break;
    }
  }

  summary.last_step = step;
  const size_t window_steps = std::clamp<size_t>(static_cast<size_t>(step) / 5, 1, kSmoothing);
  summary.first_loss = log.first_loss(window_steps);
  summary.last_loss = log.recent_loss(window_steps);
  summary.pairs_per_second = static_cast<double>(options.batch * (step - start)) / timer.total_time();
  summary.data_wait_share = timer.total_wait_share();
  const MemoryStats memory = memory_stats(device);
  summary.peak_tensor_bytes = memory.peak_allocated;
  summary.peak_reserved_bytes = memory.peak_reserved;
  return summary;
}

}  // namespace sm
