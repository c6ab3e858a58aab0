#include "models/siammae/train.h"

#include <unistd.h>

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

#include "data/loader.h"
#include "models/siammae/checkpoint.h"
#include "models/siammae/visualize.h"
#include "nn/optim/optimizer.h"
#include "tensor/backend.h"

namespace sm {

namespace fs = std::filesystem;

// ---------------- options ----------------

nlohmann::json TrainOptions::to_json() const {
  return {{"model", model.to_json()},
          {"data", data},
          {"out_dir", out_dir},
          {"steps", steps},
          {"epochs", epochs},
          {"batch", batch},
          {"blr", blr},
          {"lr", lr()},
          {"warmup", warmup},
          {"min_lr", min_lr},
          {"weight_decay", weight_decay},
          {"beta1", beta1},
          {"beta2", beta2},
          {"clip_grad", clip_grad},
          {"gap_min", gap_min},
          {"gap_max", gap_max},
          {"repeats", repeats},
          {"crop_scale_min", crop_scale_min},
          {"hflip", hflip},
          {"color_jitter", color_jitter},
          {"workers", workers},
          {"threads", threads},
          {"seed", seed},
          {"device", device},
          {"eval_every", eval_every},
          {"log_every", log_every},
          {"stop_after", stop_after},
          {"resume", resume}};
}

TrainOptions TrainOptions::from_json(const nlohmann::json& j) {
  TrainOptions o;
  const nlohmann::json known = o.to_json();
  for (const auto& [key, value] : j.items()) check(known.contains(key), "train", "unknown option '", key, "'");
  try {
    if (j.contains("model")) o.model = SiamMAEConfig::from_json(j["model"]);
    o.data = j.value("data", o.data);
    o.out_dir = j.value("out_dir", o.out_dir);
    o.steps = j.value("steps", o.steps);
    o.epochs = j.value("epochs", o.epochs);
    o.batch = j.value("batch", o.batch);
    o.blr = j.value("blr", o.blr);
    o.warmup = j.value("warmup", o.warmup);
    o.min_lr = j.value("min_lr", o.min_lr);
    o.weight_decay = j.value("weight_decay", o.weight_decay);
    o.beta1 = j.value("beta1", o.beta1);
    o.beta2 = j.value("beta2", o.beta2);
    o.clip_grad = j.value("clip_grad", o.clip_grad);
    o.gap_min = j.value("gap_min", o.gap_min);
    o.gap_max = j.value("gap_max", o.gap_max);
    o.repeats = j.value("repeats", o.repeats);
    o.crop_scale_min = j.value("crop_scale_min", o.crop_scale_min);
    o.hflip = j.value("hflip", o.hflip);
    o.color_jitter = j.value("color_jitter", o.color_jitter);
    o.workers = j.value("workers", o.workers);
    o.threads = j.value("threads", o.threads);
    o.seed = j.value("seed", o.seed);
    o.device = j.value("device", o.device);
    o.eval_every = j.value("eval_every", o.eval_every);
    o.log_every = j.value("log_every", o.log_every);
    o.stop_after = j.value("stop_after", o.stop_after);
    o.resume = j.value("resume", o.resume);
  } catch (const nlohmann::json::exception& e) {
    fail("train", "an option has the wrong type (", e.what(), ")");
  }
  return o;
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

void check_options(const TrainOptions& o) {
  check(!o.data.empty(), "train", "--data is required: one or more folders of video frame folders");
  check(!o.out_dir.empty(), "train", "--out is required: the run directory");
  check(o.steps > 0 || o.epochs > 0, "train", "give --steps N or --epochs E");
  check(o.steps >= 0 && o.epochs >= 0, "train", "--steps and --epochs must not be negative");
  check(o.batch > 0, "train", "--batch must be positive, got ", o.batch);
  check(o.blr > 0 && o.min_lr >= 0, "train", "--blr must be positive and --min-lr not negative");
  check(o.weight_decay >= 0, "train", "--weight-decay must not be negative");
  check(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "train", "betas must be in [0, 1)");
  check(o.workers >= 0 && o.threads >= 0, "train", "--workers and --threads must not be negative");
  check(o.eval_every > 0 && o.log_every > 0, "train", "--eval-every and --log-every must be positive");
  check(o.device == "cpu" || o.device == "cuda", "train", "--device must be cpu or cuda, got '", o.device, "'");
  check(o.color_jitter >= 0, "train", "--color-jitter must not be negative");
  o.warmup_steps(1);  // throws on a malformed --warmup
  o.model.validate();
}

// Ctrl-C asks the loop to stop after the current step and save a checkpoint.
std::atomic<bool> g_stop_requested{false};
void request_stop(int) { g_stop_requested = true; }

struct StopHandler {
  void (*previous)(int);
  StopHandler() : previous(std::signal(SIGINT, request_stop)) { g_stop_requested = false; }
  ~StopHandler() { std::signal(SIGINT, previous); }
};

std::string format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%ldh%02ldm", static_cast<long>(s / 3600), static_cast<long>(s % 3600 / 60));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%ldm%02lds", static_cast<long>(s / 60), static_cast<long>(s % 60));
  }
  return buffer;
}

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

// A fixed batch of pairs and masks, reconstructed at every picture step so pictures compare.
struct PictureBatch {
  Tensor f1, f2;  // (P, 3, S, S)
  PairMasks masks;
};

}  // namespace

TrainSummary train(const TrainOptions& options, std::ostream& out) {
  check_options(options);
  if (options.threads > 0) set_cpu_threads(static_cast<int>(options.threads));
  const Device device = options.device == "cuda" ? Device::CUDA : Device::CPU;
  const fs::path run = options.out_dir;
  const std::string checkpoint_path = (run / "checkpoint.safetensors").string();
  fs::create_directories(run);

  // Resuming takes model, optimizer state and step from the checkpoint; a fresh run must not
  // overwrite one.
  Checkpoint resumed;
  if (options.resume) {
    check(fs::exists(checkpoint_path), "train", "--resume: ", checkpoint_path, " does not exist");
    resumed = read_checkpoint(checkpoint_path);
    check(resumed.config.to_json() == options.model.to_json(), "train", "--resume: the model in ", checkpoint_path,
          " (", resumed.config.to_json().dump(), ") differs from the one asked for (", options.model.to_json().dump(),
          ")");
  } else {
    check(!fs::exists(checkpoint_path), "train", checkpoint_path,
          " already exists: pass --resume to continue that run, or choose another --out");
  }
  const int64_t start = resumed.step;

  VideoDatasetOptions dataset_options;
  dataset_options.min_frames = options.gap_min + 1;
  VideoDataset dataset = VideoDataset::open(options.data, dataset_options);
  PairLoaderOptions loader_options;
  loader_options.image_size = options.model.image_size;
  loader_options.crop_scale = {options.crop_scale_min, 1.0};
  loader_options.hflip_prob = options.hflip;
  loader_options.jitter = {options.color_jitter, options.color_jitter, options.color_jitter};
  loader_options.batch_size = options.batch;
  loader_options.workers = options.workers;
  loader_options.seed = options.seed;
  loader_options.gap_min = options.gap_min;
  loader_options.gap_max = options.gap_max;
  loader_options.repeats = options.repeats;
  const int64_t videos = static_cast<int64_t>(dataset.videos.size());
  PairLoader loader(std::move(dataset), loader_options, start);
  const int64_t per_epoch = loader.pairs_per_epoch();
  const int64_t total = options.steps > 0 ? options.steps : (options.epochs * per_epoch + options.batch - 1) / options.batch;
  check(start < total, "train", "the run is already at step ", start, " of ", total,
        "; pass a larger --steps or --epochs to go on");
  const int64_t warmup = options.warmup_steps(total);

  Generator init_gen(derive_seed(options.seed, kInitStream, 0));
  SiamMAE model(options.model, &init_gen);
  model.to(device);
  AdamW optimizer(decay_groups(model, options.weight_decay),
                  {.lr = options.lr(), .beta1 = options.beta1, .beta2 = options.beta2, .eps = 1e-8});
  if (options.resume) {
    model.load_state_dict(resumed.model);
    optimizer.load_state_dict(resumed.optimizer);
  }

  {  // config.json: every setting of this run
    std::ofstream config((run / "config.json").string());
    config << options.to_json().dump(2) << "\n";
    check(config.good(), "train", "cannot write ", (run / "config.json").string());
  }
  TrainLog log((run / "log.csv").string(), start);

  PictureBatch pictures;
  {
    const int64_t shown = std::min<int64_t>(4, options.batch);
    PairBatch first = loader.make_batch(0);
    pictures.f1 = first.f1.narrow(0, 0, shown).to(device);
    pictures.f2 = first.f2.narrow(0, 0, shown).to(device);
    Generator gen(derive_seed(options.seed, kPictureStream, 0));
    pictures.masks = model.sample_masks(shown, gen);
  }

  out << "training " << options.model.name << " (" << model.parameter_count() << " parameters) on " << videos
      << " videos (" << per_epoch << " pairs per epoch), batch " << options.batch << "; steps " << start << " -> "
      << total << ", lr " << options.lr() << " (blr " << options.blr << "), warmup " << warmup << " steps, " << cpu_threads() << " threads, " << options.workers << " loader workers\n";
  const bool terminal = &out == &std::cout && isatty(STDOUT_FILENO);
  StopHandler stop_handler;
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  std::deque<std::pair<double, double>> window;  // (step seconds, data-wait seconds) of recent steps
  double wait_before = loader.wait_seconds(), total_wait = 0, total_time = 0;
  auto save = [&](int64_t steps_done) {
    save_checkpoint(checkpoint_path, model, &optimizer, options.to_json(), steps_done, log.recent_loss(),
                    resumed.elapsed_seconds + seconds_since(started));
    log.flush();
    log.plot((run / "loss.png").string());
  };

  TrainSummary summary{start, start, total, 0, 0, 0, 0, false};
  int64_t step = start;
  while (step < total) {
    const auto step_start = Clock::now();
    PairBatch batch = loader.next();
    const double lr = warmup_cosine_lr(step, warmup, total, options.lr(), options.min_lr);
    optimizer.set_lr(lr);
    Generator mask_gen(derive_seed(options.seed, kMaskStream, static_cast<uint64_t>(step)));
    SiamMAEOutput result = model.forward(batch.f1.to(device), batch.f2.to(device), model.sample_masks(options.batch, mask_gen));
    optimizer.zero_grad();
    result.loss.backward();
    if (options.clip_grad > 0) clip_grad_norm(model.parameters(), options.clip_grad);
    optimizer.step();
    const double loss = result.loss.item();
    check(std::isfinite(loss), "train", "the loss became ", loss, " at step ", step,
          "; lower --blr or set --clip-grad (the last checkpoint is kept)");

    const double wait = loader.wait_seconds() - wait_before, seconds = seconds_since(step_start);
    wait_before = loader.wait_seconds();
    total_wait += wait, total_time += seconds;
    window.emplace_back(seconds, wait);
    if (window.size() > kSmoothing) window.pop_front();
    double window_time = 0, window_wait = 0;
    for (const auto& [t, w] : window) window_time += t, window_wait += w;
    const double pairs_per_s = static_cast<double>(options.batch * window.size()) / window_time;
    const double epoch = static_cast<double>((step + 1) * options.batch) / static_cast<double>(per_epoch);
    ++step;
    log.add(step, epoch, loss, lr, pairs_per_s, window_wait / window_time, resumed.elapsed_seconds + seconds_since(started));

    const bool picture_step = step % options.eval_every == 0;
    const bool stopping = g_stop_requested || (options.stop_after > 0 && step - start >= options.stop_after);
    if (terminal || step % options.log_every == 0 || step == total || picture_step || stopping) {
      char line[256];
      std::snprintf(line, sizeof(line),
                    "step %ld/%ld  epoch %.2f  loss %.4f  lr %.2e  %.1f pairs/s  data %2.0f%%  ETA %s",
                    static_cast<long>(step), static_cast<long>(total), epoch, log.recent_loss(), lr, pairs_per_s,
                    100 * window_wait / window_time, format_duration((total - step) * window_time / window.size()).c_str());
      out << (terminal ? "\r" : "") << line << (terminal ? "\033[K" : "\n") << std::flush;
    }
    if (picture_step || step == total || stopping) {
      save(step);
      write_png((run / ("recon_" + std::to_string(step) + ".png")).string(),
                reconstruction_grid(model, pictures.f1, pictures.f2, pictures.masks));
      if (terminal) out << "\n";
    }
    if (stopping) {
      summary.interrupted = step < total;
      out << "stopped at step " << step << " of " << total << "; " << checkpoint_path
          << " holds it: continue with --resume\n";
      break;
    }
  }
  summary.last_step = step;
  const size_t window_steps = std::clamp<size_t>(static_cast<size_t>(step) / 5, 1, kSmoothing);
  summary.first_loss = log.first_loss(window_steps);
  summary.last_loss = log.recent_loss(window_steps);
  summary.pairs_per_second = static_cast<double>(options.batch * (step - start)) / total_time;
  summary.data_wait_share = total_wait / total_time;
  return summary;
}

}  // namespace sm
