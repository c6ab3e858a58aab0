// The `siammae` program as a user runs it: exit codes, one-line errors, help texts, and
// check-grads on the fixture the PyTorch twin wrote.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "data/davis.h"
#include "models/siammae/checkpoint.h"
#include "models/siammae/run_folder.h"
#include "models/siammae/train.h"
#include "nn/serialization.h"
#include "tests/fixtures.h"

using namespace sm;
using namespace sm::test;

namespace {

using Run = CommandResult;

// Runs build/siammae with `args` (already shell-quoted where needed).
Run siammae(const std::string& args) { return run_command(std::string(SM_SIAMMAE_BIN) + " " + args); }

std::string temp_path(const std::string& name) { return (std::filesystem::temp_directory_path() / name).string(); }

const std::string kReference = source_path("tests/reference/");

// The loss column of a run's log.csv, as written (exact text).
std::vector<std::string> logged_losses(const std::string& run) {
  std::ifstream in(run + "/log.csv");
  std::string line;
  std::getline(in, line);
  CHECK(line == "step,epoch,loss,lr,pairs_per_s,data_wait,elapsed_s");
  std::vector<std::string> losses;
  while (std::getline(in, line)) {
    const size_t a = line.find(','), b = line.find(',', a + 1), c = line.find(',', b + 1);
    losses.push_back(line.substr(b + 1, c - b - 1));
  }
  return losses;
}

// build/siammae started in the background, its output going to a file.
class Background {
 public:
  Background(const std::vector<std::string>& args, const std::string& output) : output_(output) {
    std::fflush(nullptr);  // or the child would write out the parent's pending output too
    std::cout.flush();
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      FILE* out = std::freopen(output.c_str(), "w", stdout);
      if (out) dup2(fileno(stdout), fileno(stderr));
      std::vector<char*> argv{const_cast<char*>(SM_SIAMMAE_BIN)};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(SM_SIAMMAE_BIN, argv.data());
      _exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && !done_) kill(pid_, SIGKILL), wait();
  }
  void signal(int sig) const { kill(pid_, sig); }
  // The exit code, or 128 + the signal that ended it (as a shell reports it).
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    done_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  bool running() {
    int status = 0;
    return !done_ && waitpid(pid_, &status, WNOHANG) == 0;
  }
  std::string output() const {
    std::ifstream in(output_);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  pid_t pid() const { return pid_; }

 private:
  std::string output_;
  pid_t pid_ = -1;
  bool done_ = false;
};

// Waits up to `seconds` for `ready` to hold.
bool wait_for(const std::function<bool()>& ready, double seconds = 60) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The steps of a run's log.csv rows, in file order.
std::vector<int64_t> logged_steps(const std::string& run) {
  std::istringstream lines(file_text(run + "/log.csv"));
  std::vector<int64_t> steps;
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) steps.push_back(std::stoll(line.substr(0, line.find(','))));
  return steps;
}

// How many whole rows (after the header) a run's log.csv holds now; safe while it is written.
size_t complete_rows(const std::string& run) {
  const std::string text = file_text(run + "/log.csv");
  const auto lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  return lines > 0 ? lines - 1 : 0;
}

// Small synthetic videos (as frame folders) to train on.
std::string synthetic_videos() {
  const std::string root = temp_path("sm_cli_videos");
  std::filesystem::remove_all(root);
  write_synthetic_davis(root, {.sequences = 3, .frames = 10, .height = 48, .width = 64, .objects = 2, .seed = 5});
  return root + "/JPEGImages/480p";
}

}  // namespace

TEST_CASE("siammae with no or an unknown command prints the usage and fails") {
  Run none = siammae("");
  CHECK(none.code == 2);
  CHECK(none.output.find("usage: siammae COMMAND") != std::string::npos);
  Run unknown = siammae("fly");
  CHECK(unknown.code == 2);
  CHECK(unknown.output.find("unknown command 'fly'") != std::string::npos);
  CHECK(siammae("--help").code == 0);
}

TEST_CASE("check-grads reproduces the PyTorch twin's loss and gradients") {
  const std::string out = temp_path("sm_check_grads.safetensors");
  Run run = siammae("check-grads --config micro --dtype f64 --weights " + kReference +
                    "siammae_micro_weights.safetensors --inputs " + kReference +
                    "siammae_micro_inputs.safetensors --out " + out);
  REQUIRE_MESSAGE(run.code == 0, run.output);
  CHECK(run.output.find("loss 2.2293191") != std::string::npos);
  const StateDict got = load_safetensors(out).tensors;
  const StateDict expected = load_safetensors(kReference + "siammae_micro_expected.safetensors").tensors;
  CHECK(closeness(got.at("loss"), expected.at("loss"), 1e-12, 0) <= 1.0);
  int grads = 0;
  for (const auto& [name, g] : got) {
    if (name.rfind("grad.", 0) != 0) continue;
    CAPTURE(name);
    CHECK(closeness(g, expected.at(name), 1e-9, 1e-12) <= 1.0);
    ++grads;
  }
  CHECK(grads == 80);
  std::filesystem::remove(out);
}

TEST_CASE("check-grads: every bad input is one line naming it, and a non-zero exit") {
  const std::string weights = kReference + "siammae_micro_weights.safetensors";
  const std::string inputs = kReference + "siammae_micro_inputs.safetensors";
  const std::string out = temp_path("sm_check_grads_bad.safetensors");
  auto fails_with = [](const Run& run, const std::string& text) {
    CAPTURE(run.output);
    CHECK(run.code == 1);
    CHECK(run.output.find(text) != std::string::npos);
    CHECK(std::count(run.output.begin(), run.output.end(), '\n') == 1);
  };
  fails_with(siammae("check-grads --config micro --weights " + weights + " --inputs " + inputs),
             "[check-grads] --out is required");
  fails_with(siammae("check-grads --config tiny --weights " + weights + " --inputs " + inputs + " --out " + out),
             "(loading " + weights + ")");
  fails_with(siammae("check-grads --config micro --weights " + weights + " --inputs " + weights + " --out " + out),
             "has no tensor 'f1'");
  fails_with(siammae("check-grads --config micro --weights /no/such.safetensors --inputs " + inputs + " --out " + out),
             "cannot open /no/such.safetensors");
  fails_with(siammae("check-grads --config huge --weights " + weights + " --inputs " + inputs + " --out " + out),
             "[config] unknown preset 'huge'");
  fails_with(siammae("check-grads --config micro --dtype f16 --weights " + weights + " --inputs " + inputs + " --out " + out),
             "--dtype must be f32 or f64");
  fails_with(siammae("check-grads --colour red"), "unknown flag --colour");
  CHECK_FALSE(std::filesystem::exists(out));
}

TEST_CASE("train --help lists every flag with its default") {
  Run help = siammae("train --help");
  CHECK(help.code == 0);
  for (const char* text : {"--config VALUE", "(default: tiny)", "--data", "--out", "--steps", "--epochs", "--batch",
                           "(default: 64)", "--blr", "(default: 0.00015)", "--warmup", "(default: 5%)", "--min-lr",
                           "--weight-decay", "(default: 0.05)", "--beta1", "(default: 0.9)", "--beta2",
                           "(default: 0.95)", "--mask-ratio", "--gap-min", "(default: 4)", "--gap-max",
                           "(default: 48)", "--repeats", "--crop-scale-min", "(default: 0.5)", "--hflip",
                           "--workers", "--threads", "--seed", "--device", "(default: cpu)", "--resume",
                           "--eval-every", "--stop-after", "--decoder", "--encoder", "--masking"}) {
    CHECK_MESSAGE(help.output.find(text) != std::string::npos, text);
  }
  Run top = siammae("--help");
  CHECK(top.output.find("train ") != std::string::npos);
  CHECK(top.output.find("check-grads") != std::string::npos);
}

TEST_CASE("train settings: one table gives the flags, their help, config.json and the checks") {
  const std::string help = siammae("train --help").output;
  auto listed = [&](const std::string& flag, const std::string& text) {
    CHECK_MESSAGE(help.find("--" + flag + " VALUE") != std::string::npos, flag);
    CHECK_MESSAGE(help.find(text) != std::string::npos, flag);
  };
  for (const auto& f : TrainOptions::fields().fields())
    if (!f.flag.empty()) listed(f.flag, f.help);
  for (const auto& f : SiamMAEConfig::fields().fields())
    if (!f.flag.empty()) listed(f.flag, f.help);

  // Every setting survives the JSON form; unknown keys and wrong types are named.
  TrainOptions o;
  o.data = {"a", "b"}, o.steps = 7, o.blr = 2e-3, o.warmup = "3", o.seed = 12345678901234ull, o.device = "cuda";
  o.model = siammae_preset("micro");
  o.model.decoder = DecoderKind::Joint, o.model.mask_ratio = 0.5;
  CHECK(TrainOptions::from_json(o.to_json()).to_json() == o.to_json());
  CHECK(o.to_json().at("lr") == doctest::Approx(2e-3 * 64 / 256));
  CHECK_THROWS_WITH(TrainOptions::from_json({{"stepz", 3}}), "[train] unknown option 'stepz'");
  CHECK_THROWS_WITH(TrainOptions::from_json({{"steps", "3"}}), "[train] 'steps' must be an integer, got \"3\"");
  CHECK_THROWS_WITH(TrainOptions::from_json({{"steps", 2.5}}), "[train] 'steps' must be an integer, got 2.5");
  CHECK_THROWS_WITH(TrainOptions::from_json({{"seed", -1}}), "[train] 'seed' must be a non-negative integer, got -1");
  CHECK_THROWS_WITH(TrainOptions::from_json({{"data", {"a", 3}}}), "[train] 'data' must be a list of strings, got [\"a\",3]");

  // The checks name the flag.
  TrainOptions valid;
  valid.data = {"videos"}, valid.out_dir = "run", valid.steps = 10;
  CHECK_NOTHROW(valid.validate());
  auto fails_with = [&](const std::function<void(TrainOptions&)>& change, const std::string& message) {
    TrainOptions bad = valid;
    change(bad);
    CHECK_THROWS_WITH(bad.validate(), message.c_str());
  };
  fails_with([](TrainOptions& b) { b.batch = 0; }, "[train] --batch must be in [1, 65536], got 0");
  fails_with([](TrainOptions& b) { b.hflip = 1.5; }, "[train] --hflip must be in [0, 1], got 1.5");
  fails_with([](TrainOptions& b) { b.beta2 = 1; }, "[train] --beta2 must be in [0, 1), got 1");
  fails_with([](TrainOptions& b) { b.crop_scale_min = 0; }, "[train] --crop-scale-min must be in (0, 1], got 0");
  fails_with([](TrainOptions& b) { b.blr = NAN; }, "[train] --blr must be a finite number, got nan");
  fails_with([](TrainOptions& b) { b.device = "tpu"; }, "[train] --device must be cpu or cuda, got 'tpu'");
  fails_with([](TrainOptions& b) { b.precision = "fp16"; }, "[train] --precision must be fp32 or tf32 or bf16, got 'fp16'");
  fails_with([](TrainOptions& b) { b.gap_min = 9, b.gap_max = 5; }, "[train] --gap-min 9 is larger than --gap-max 5");
}

TEST_CASE("train: an interrupted and resumed run gives the same loss curve as an uninterrupted one") {
  const std::string data = synthetic_videos();
  const std::string straight = temp_path("sm_run_straight"), resumed = temp_path("sm_run_resumed");
  std::filesystem::remove_all(straight);
  std::filesystem::remove_all(resumed);
  const std::string common = "train --config micro --data " + data +
                             " --steps 6 --batch 4 --gap-min 2 --gap-max 4 --eval-every 3 --blr 0.01 --seed 3 ";
  Run a = siammae(common + "--out " + straight + " --workers 2");
  REQUIRE_MESSAGE(a.code == 0, a.output);
  Run b = siammae(common + "--out " + resumed + " --workers 2 --stop-after 4");
  REQUIRE_MESSAGE(b.code == 0, b.output);
  CHECK(b.output.find("stopped at step 4 of 6") != std::string::npos);
  CHECK(logged_losses(resumed).size() == 4);
  // Resume with only the run directory, and another worker count: the batches do not depend on it.
  Run c = siammae("train --resume --out " + resumed + " --workers 1");
  REQUIRE_MESSAGE(c.code == 0, c.output);
  const std::vector<std::string> expected = logged_losses(straight);
  CHECK(expected.size() == 6);
  CHECK(logged_losses(resumed) == expected);
  for (const char* file : {"config.json", "loss.png", "recon_3.png", "recon_6.png", "checkpoint.safetensors"})
    CHECK_MESSAGE(std::filesystem::exists(resumed + "/" + file), file);
  // The loss fell: later steps below the first.
  CHECK(std::stod(expected.back()) < std::stod(expected.front()));

  // Looking at the model: info, a reconstruction and the cross-attention maps.
  const std::string checkpoint = resumed + "/checkpoint.safetensors", frame = data + "/synthetic-0/";
  Run info = siammae("info --checkpoint " + checkpoint);
  CHECK_MESSAGE(info.code == 0, info.output);
  CHECK(info.output.find("micro: image 32, patch 8") != std::string::npos);
  CHECK(info.output.find("trained     step 6") != std::string::npos);
  for (const char* command : {"reconstruct", "attention"}) {
    const std::string png = resumed + "/" + command + ".png";
    Run run = siammae(std::string(command) + " --checkpoint " + checkpoint + " --frames " + frame + "00000.jpg " +
                      frame + "00004.jpg --out " + png);
    CHECK_MESSAGE(run.code == 0, run.output);
    CHECK(read_image(png).width > 0);
  }
  if (!cuda_available()) {  // --device cuda on a machine without a GPU: one clear line
    Run no_gpu = siammae("reconstruct --device cuda --checkpoint " + checkpoint + " --frames " + frame + "00000.jpg " +
                         frame + "00004.jpg --out " + resumed + "/x.png");
    CHECK(no_gpu.code == 1);
    CHECK(no_gpu.output.find("[to] ") != std::string::npos);
    CHECK(no_gpu.output.find("CUDA") != std::string::npos);
  }
  Run bad_device = siammae("attention --device tpu --checkpoint " + checkpoint + " --frames " + frame + "00000.jpg " +
                           frame + "00004.jpg --out " + resumed + "/x.png");
  CHECK(bad_device.output.find("[attention] --device must be cpu or cuda, got 'tpu'") != std::string::npos);
  Run one_frame = siammae("reconstruct --checkpoint " + checkpoint + " --frames " + frame + "00000.jpg --out x.png");
  CHECK(one_frame.code == 1);
  CHECK(one_frame.output.find("--frames needs 2 values") != std::string::npos);

  // A fresh run never overwrites a checkpoint; resuming a finished run asks for more steps.
  Run again = siammae(common + "--out " + straight);
  CHECK(again.code == 1);
  CHECK(again.output.find("already exists: pass --resume") != std::string::npos);
  Run finished = siammae("train --resume --out " + straight);
  CHECK(finished.code == 1);
  CHECK(finished.output.find("already at step 6 of 6") != std::string::npos);
  std::filesystem::remove_all(straight);
  std::filesystem::remove_all(resumed);
}

TEST_CASE("train --precision bf16 follows the float32 loss curve; the summary gives the peak memory") {
  const std::string data = synthetic_videos();
  const std::string fp32 = temp_path("sm_run_fp32"), bf16 = temp_path("sm_run_bf16");
  std::filesystem::remove_all(fp32);
  std::filesystem::remove_all(bf16);
  const std::string common = "train --config micro --data " + data +
                             " --steps 6 --batch 4 --gap-min 2 --gap-max 4 --eval-every 6 --blr 0.01 --seed 3 ";
  Run a = siammae(common + "--out " + fp32);
  REQUIRE_MESSAGE(a.code == 0, a.output);
  CHECK(a.output.find("peak memory ") != std::string::npos);
  CHECK(a.output.find(" MB reserved on the cpu") != std::string::npos);
  Run b = siammae(common + "--out " + bf16 + " --precision bf16");
  REQUIRE_MESSAGE(b.code == 0, b.output);
  const std::vector<std::string> exact = logged_losses(fp32), mixed = logged_losses(bf16);
  REQUIRE(exact.size() == 6);
  REQUIRE(mixed.size() == 6);
  for (size_t i = 0; i < exact.size(); ++i) {
    CAPTURE(i);
    CHECK(std::stod(mixed[i]) == doctest::Approx(std::stod(exact[i])).epsilon(0.02));
  }
  CHECK(mixed != exact);  // the products did run in bfloat16
  std::filesystem::remove_all(fp32);
  std::filesystem::remove_all(bf16);
}

TEST_CASE("train: bad settings are one clear line") {
  auto fails_with = [](const std::string& args, const std::string& text) {
    Run run = siammae(args);
    CAPTURE(run.output);
    CHECK(run.code == 1);
    CHECK(run.output.find(text) != std::string::npos);
  };
  const std::string out = " --out " + temp_path("sm_run_bad");
  fails_with("train" + out + " --steps 5", "--data is required");
  fails_with("train --data /no/such/folder --steps 5" + out, "/no/such/folder");
  fails_with("train --data x" + out, "give --steps N or --epochs E");
  fails_with("train --data x --steps ten" + out, "--steps expects an integer, got 'ten'");
  fails_with("train --data x --steps 5 --decoder fancy" + out, "unknown decoder 'fancy'");
  fails_with("train --data x --steps 5 --warmup 5x" + out, "--warmup must be a number of steps or a percentage");
  fails_with("train --resume --out /no/such/run", "/no/such/run/config.json does not exist");
  std::filesystem::remove_all(temp_path("sm_run_bad"));
}

TEST_CASE("propagate and eval-davis on a synthetic DAVIS folder") {
  TempDir dir("sm-cli-davis");
  write_synthetic_davis(dir / "davis", {.sequences = 2, .frames = 6, .height = 48, .width = 64, .objects = 2, .seed = 1});
  Run identity = siammae("propagate --features identity --davis " + (dir / "davis") + " --out " + (dir / "identity"));
  CHECK_MESSAGE(identity.code == 0, identity.output);
  CHECK(identity.output.find("J&F-Mean") != std::string::npos);
  CHECK(std::filesystem::exists(dir / "identity/global_results-val.csv"));
  Run pixels = siammae("propagate --features pixels --patch 8 --size 48 --overlay --davis " + (dir / "davis") +
                       " --out " + (dir / "pixels"));
  CHECK_MESSAGE(pixels.code == 0, pixels.output);
  CHECK(std::filesystem::exists(dir / "pixels/per-sequence_results-val.csv"));
  // The annotations themselves score 1; the results folder is only read when --out names
  // another folder for the CSV files.
  Run perfect = siammae("eval-davis --davis " + (dir / "davis") + " --results " + (dir / "davis/Annotations/480p") +
                        " --out " + (dir / "scores"));
  CHECK_MESSAGE(perfect.code == 0, perfect.output);
  CHECK(perfect.output.find("J&F-Mean 1.0000") != std::string::npos);
  CHECK(std::filesystem::exists(dir / "scores/global_results-val.csv"));
  CHECK_FALSE(std::filesystem::exists(dir / "davis/Annotations/480p/global_results-val.csv"));
  // Without --out they land in the results folder, as the DAVIS toolkit does.
  Run in_results = siammae("eval-davis --davis " + (dir / "davis") + " --results " + (dir / "pixels"));
  CHECK_MESSAGE(in_results.code == 0, in_results.output);
  CHECK(in_results.output.find("CSV files in " + (dir / "pixels")) != std::string::npos);

  Run neither = siammae("propagate --davis " + (dir / "davis") + " --out " + (dir / "x"));
  CHECK(neither.code == 1);
  CHECK(neither.output.find("give either --checkpoint or --features") != std::string::npos);
  Run vip_identity = siammae("propagate-vip --features identity --vip " + (dir / "davis") + " --out " + (dir / "x"));
  CHECK(vip_identity.code == 1);
  CHECK(vip_identity.output.find("identity baseline is for DAVIS") != std::string::npos);
  Run missing = siammae("propagate --features identity --davis /no/such/davis --out " + (dir / "x"));
  CHECK(missing.code == 1);
  CHECK(missing.output.find("/no/such/davis") != std::string::npos);
}

// ---------------------------------------------------------------- reliability

namespace {

// A failure as a user sees it: exit 1 and one line holding `text`.
void fails_with_one_line(const Run& run, const std::string& text) {
  CAPTURE(run.output);
  CHECK(run.code == 1);
  CHECK(run.output.find(text) != std::string::npos);
  CHECK(std::count(run.output.begin(), run.output.end(), '\n') == 1);
}

std::string micro_run(const std::string& data, const std::string& out, const std::string& more = "") {
  return "train --config micro --data " + data + " --batch 4 --gap-min 2 --gap-max 4 --workers 1 --out " + out + " " +
         more;
}

}  // namespace

TEST_CASE("train: a diverging run stops before the update, names the step, and keeps the last checkpoint") {
  const std::string data = synthetic_videos();
  TempDir dir("sm-cli-diverge");
  const std::string diverging = "--steps 8 --blr 1e6 --warmup 0 --eval-every 1";
  Run run = siammae(micro_run(data, dir / "stop", diverging));
  CAPTURE(run.output);
  CHECK(run.code == 1);
  const size_t at = run.output.find("[train] step ");
  REQUIRE(at != std::string::npos);
  const int64_t bad_step = std::stoll(run.output.substr(at + 13));
  CHECK(bad_step >= 2);  // the first step's loss and gradients come from the initial weights
  // The loss or, with a finite loss, the gradient norm: whichever the numbers reach first.
  CHECK((run.output.find("the loss is nan") != std::string::npos ||
         run.output.find("the gradients are not finite") != std::string::npos));
  CHECK(run.output.find("the update was not applied and the last checkpoint is kept as it was (step " +
                        std::to_string(bad_step - 1) + ")") != std::string::npos);
  CHECK(run.output.find("--skip-nonfinite") != std::string::npos);
  // The checkpoint is the one of the step before, whole and finite (info refuses NaN weights).
  Run info = siammae("info --checkpoint " + (dir / "stop/checkpoint.safetensors"));
  CHECK_MESSAGE(info.code == 0, info.output);
  CHECK(info.output.find("trained     step " + std::to_string(bad_step - 1) + ",") != std::string::npos);
  CHECK(logged_steps(dir / "stop").size() == static_cast<size_t>(bad_step));

  // Or skip such batches, counting them.
  Run skipping = siammae(micro_run(data, dir / "skip", diverging + " --skip-nonfinite 100"));
  CHECK_MESSAGE(skipping.code == 0, skipping.output);
  CHECK(skipping.output.find("batch skipped (1 of at most 100)") != std::string::npos);
  CHECK(skipping.output.find("batches with a non-finite loss or gradients were skipped") != std::string::npos);
  CHECK(logged_steps(dir / "skip") == std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(read_checkpoint(dir / "skip/checkpoint.safetensors").skipped_batches >= 1);
}

TEST_CASE("train: one trainer per run folder; SIGTERM and Ctrl-C save a checkpoint and exit 143 and 130") {
  const std::string data = synthetic_videos();
  TempDir dir("sm-cli-signals");
  for (int sig : {SIGTERM, SIGINT}) {
    CAPTURE(sig);
    const std::string run = dir / ("run" + std::to_string(sig));
    Background first({"train", "--config", "micro", "--data", data, "--out", run, "--steps", "1000000", "--batch", "2",
                      "--gap-min", "2", "--gap-max", "4", "--workers", "1", "--eval-every", "1000000"},
                     dir / "first.txt");
    REQUIRE(wait_for([&] { return std::filesystem::exists(run + "/log.csv") && logged_steps(run).size() >= 3; }));
    // A second trainer on the same folder fails at once, whether it starts a run or resumes one.
    fails_with_one_line(siammae(micro_run(data, run, "--steps 10")),
                        run + " is in use by another siammae train (process " + std::to_string(first.pid()) + ")");
    first.signal(sig);
    CHECK(first.wait() == 128 + sig);
    CHECK(first.output().find(sig == SIGTERM ? "stopped by SIGTERM at step " : "stopped by SIGINT (Ctrl-C) at step ") !=
          std::string::npos);
    const Checkpoint saved = read_checkpoint(run + "/checkpoint.safetensors");
    CHECK(saved.step >= 3);
    CHECK(saved.step == logged_steps(run).back());  // the last step logged is the one saved
  }
}

TEST_CASE("train: a folder that is not a run, or not a new one, is never written to") {
  const std::string data = synthetic_videos();
  TempDir dir("sm-cli-not-a-run");
  std::filesystem::create_directories(dir / "mine");
  std::ofstream(dir / "mine/notes.txt") << "my notes\n";
  fails_with_one_line(siammae(micro_run(data, dir / "mine", "--steps 2")),
                      "--out " + (dir / "mine") + " is a folder that is not empty and not a run (it holds notes.txt)");
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "mine")) names.push_back(entry.path().filename());
  CHECK(names == std::vector<std::string>{"notes.txt"});
  CHECK(file_text(dir / "mine/notes.txt") == "my notes\n");
  std::ofstream(dir / "a-file") << "x";
  fails_with_one_line(siammae(micro_run(data, dir / "a-file", "--steps 2")), "is a file, not a folder");
  CHECK(file_text(dir / "a-file") == "x");
}

TEST_CASE("train: --stop-after belongs to one invocation; a resumed run appends to log.csv") {
  const std::string data = synthetic_videos();
  TempDir dir("sm-cli-stop-after");
  const std::string run = dir / "run";
  Run first = siammae(micro_run(data, run, "--steps 6 --eval-every 2 --stop-after 2"));
  CHECK_MESSAGE(first.code == 0, first.output);
  const nlohmann::json config = nlohmann::json::parse(file_text(run + "/config.json"));
  CHECK_FALSE(config.contains("stop_after"));
  CHECK_FALSE(config.contains("resume"));
  const std::string log_before = file_text(run + "/log.csv");
  Run second = siammae("train --resume --out " + run);
  CHECK_MESSAGE(second.code == 0, second.output);
  CHECK(second.output.find("stopped") == std::string::npos);  // ran to the end, not 2 more steps
  CHECK(logged_steps(run) == std::vector<int64_t>{1, 2, 3, 4, 5, 6});
  CHECK(file_text(run + "/log.csv").starts_with(log_before));  // the first rows as they were
}

TEST_CASE("TrainLog: rows are appended once; rows past the checkpoint stay; a row cut short is dropped") {
  TempDir dir("sm-trainlog");
  const std::string path = dir / "log.csv";
  {
    TrainLog log(path, 0);
    for (int64_t step = 1; step <= 6; ++step) log.add(step, 0.1 * step, 2.0 - 0.1 * step, 1e-3, 10, 0.1, step);
  }
  std::ofstream(path, std::ios::app) << "7,0.7,1.3";  // a kill in the middle of a row
  TrainLog resumed(path, 4);                          // the checkpoint holds step 4
  CHECK(resumed.recent_loss(2) == doctest::Approx((1.6 + 1.7) / 2));  // only rows up to the checkpoint
  resumed.add(5, 0.5, 99, 1e-3, 10, 0.1, 5);                         // redone: its row is already there
  resumed.add(6, 0.6, 99, 1e-3, 10, 0.1, 6);
  resumed.add(7, 0.7, 1.25, 1e-3, 10, 0.1, 7);
  resumed.sync();
  const std::string text = file_text(path);
  CHECK(std::count(text.begin(), text.end(), '\n') == 8);  // header + steps 1..7
  CHECK(text.find("\n5,0.5000,1.5,") != std::string::npos);
  CHECK(text.find("99") == std::string::npos);
  CHECK(text.find("\n7,0.7000,1.25,") != std::string::npos);
  CHECK_THROWS_WITH(TrainLog(dir / "missing.csv", 3), doctest::Contains("missing.csv is missing"));
  std::ofstream(dir / "other.csv") << "a,b\n1,2\n";
  CHECK_THROWS_WITH(TrainLog(dir / "other.csv", 0), doctest::Contains("is not a siammae train log"));
}

TEST_CASE("train and reconstruct: settings the model cannot run are one line naming the flag") {
  const std::string data = synthetic_videos();
  TempDir dir("sm-cli-invariants");
  const std::string out = dir / "run";
  fails_with_one_line(siammae(micro_run(data, out, "--steps 2 --mask-ratio 0.99")),
                      "[config] --mask-ratio 0.99 leaves no patch of the 16 per frame visible");
  fails_with_one_line(siammae(micro_run(data, out, "--steps 2 --symmetric-masking true --mask-ratio 0.95")),
                      "--mask-ratio 0.95 leaves no patch");
  fails_with_one_line(siammae(micro_run(data, out, "--steps 2 --mask-ratio 0")), "--mask-ratio 0 hides none");
  fails_with_one_line(siammae(micro_run(data, out, "--steps 2 --masking grid --mask-ratio 0.8")),
                      "--masking grid needs --mask-ratio 0.5 or 1 - 1/s^2");
  std::ofstream(dir / "one_patch.json") << R"({"name": "micro", "image_size": 8, "patch_size": 8})";
  fails_with_one_line(siammae("train --config " + (dir / "one_patch.json") + " --data " + data + " --steps 2 --out " + out),
                      "image size 8 and patch size 8 make 1 patch per frame; SiamMAE needs at least 2");
  std::ofstream(dir / "huge.json") << R"({"name": "micro", "image_size": 1000000})";
  fails_with_one_line(siammae("train --config " + (dir / "huge.json") + " --data " + data + " --steps 2 --out " + out),
                      "'image_size' must be in [1, 8192], got 1000000");
  fails_with_one_line(siammae(micro_run(data, out, "--steps 2 --warmup 1e300")), "--warmup must be");
  fails_with_one_line(siammae(micro_run(data, out, "--steps 2 --batch 10000000")), "--batch must be in [1, 65536]");
  CHECK_FALSE(std::filesystem::exists(out));  // refused before the run folder was made

  Run trained = siammae(micro_run(data, out, "--steps 1"));
  REQUIRE_MESSAGE(trained.code == 0, trained.output);
  const std::string frame = data + "/synthetic-0/00000.jpg";
  fails_with_one_line(siammae("reconstruct --checkpoint " + out + "/checkpoint.safetensors --frames " + frame + " " +
                              frame + " --mask-ratio 0.99 --out " + (dir / "r.png")),
                      "--mask-ratio 0.99 leaves no patch");
  fails_with_one_line(siammae("reconstruct --checkpoint " + out + "/checkpoint.safetensors --frames " + frame + " " +
                              frame + " --max-pixels 1000 --out " + (dir / "r.png")),
                      frame + " is 64x48 pixels, more than the limit of 1000 (raise it with --max-pixels)");
  CHECK_FALSE(std::filesystem::exists(dir / "r.png"));
}

TEST_CASE("info fails for every checkpoint the loaders refuse; --allow-nonfinite describes a diverged one") {
  const std::string data = synthetic_videos();
  TempDir dir("sm-cli-info");
  REQUIRE(siammae(micro_run(data, dir / "run", "--steps 1")).code == 0);
  const std::string good = dir / "run/checkpoint.safetensors";
  CHECK(siammae("info --checkpoint " + good).code == 0);
  const SafetensorsFile file = load_safetensors(good);
  auto variant = [&](const std::string& name, const std::function<void(StateDict&)>& change) {
    StateDict tensors = file.tensors;
    change(tensors);
    save_safetensors(dir / name, tensors, file.metadata);
    return dir / name;
  };
  const std::string nan = variant("nan.safetensors", [](StateDict& t) {
    t["decoder_pred.bias"] = full(t["decoder_pred.bias"].shape(), NAN);
  });
  fails_with_one_line(siammae("info --checkpoint " + nan),
                      "tensor 'decoder_pred.bias' holds 192 NaN or infinite values of 192");
  Run allowed = siammae("info --allow-nonfinite --checkpoint " + nan);
  CHECK_MESSAGE(allowed.code == 0, allowed.output);
  fails_with_one_line(siammae("info --checkpoint " + variant("shape.safetensors", [](StateDict& t) {
                        t["decoder_pred.bias"] = zeros({5});
                      })),
                      "decoder_pred.bias");
  fails_with_one_line(siammae("info --checkpoint " + variant("missing.safetensors", [](StateDict& t) {
                        t.erase("norm.weight");
                      })),
                      "norm.weight");
  std::filesystem::copy_file(good, dir / "short.safetensors");
  std::filesystem::resize_file(dir / "short.safetensors", std::filesystem::file_size(good) - 100);
  fails_with_one_line(siammae("info --checkpoint " + (dir / "short.safetensors")), "truncated");
}

TEST_CASE("train survives SIGKILL at any moment, in a step, in a save, in a resume: nothing is lost or left") {
  const std::string data = synthetic_videos();
  TempDir dir("sm-cli-kill");
  // A model with a checkpoint of a few MB, so a save takes long enough to be caught in.
  std::ofstream(dir / "model.json") << R"({"name": "micro", "encoder_dim": 128, "encoder_heads": 4,
                                          "decoder_dim": 128, "decoder_heads": 4})";
  auto args = [&](const std::string& run, bool resume) {
    std::vector<std::string> a{"train", "--out", run};
    if (resume) return a.push_back("--resume"), a;
    for (const char* s : {"--data", "", "--config", "", "--steps", "24", "--batch", "2", "--gap-min", "2", "--gap-max",
                          "4", "--workers", "1", "--eval-every", "1", "--threads", "1", "--seed", "9"})
      a.push_back(s);
    a[4] = data, a[6] = dir / "model.json";
    return a;
  };
  Background straight_run(args(dir / "straight", false), dir / "straight.txt");
  REQUIRE(straight_run.wait() == 0);
  const std::vector<std::string> expected = logged_losses(dir / "straight");
  REQUIRE(expected.size() == 24);

  const std::string run = dir / "run";
  auto temporaries = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(run)) n += e.path().extension() == ".tmp";
    return n;
  };
  std::mt19937 random(20240);  // fixed: the same kill moments every time
  std::vector<std::string> rows_seen;  // every log row seen so far, which must stay
  int kills_in_saves = 0, rounds = 0;
  for (; rounds < 12; ++rounds) {
    const bool resume = rounds > 0;
    Background trainer(args(run, resume), dir / "trainer.txt");
    // 0: inside one of the next two steps; 1: as a file is being replaced; 2: early in the start.
    // Kill moments follow the run's progress (log rows, temporary files), not a clock, so on a
    // fast machine too every round is killed before the run ends.
    const int kind = rounds % 3;
    if (rounds == 0) REQUIRE(wait_for([&] { return std::filesystem::exists(run + "/checkpoint.safetensors"); }));
    auto pause_ms = [&](int max_ms) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, max_ms)(random)));
    };
    if (kind == 0) {
      const size_t target = rows_seen.size() + std::uniform_int_distribution<size_t>(1, 2)(random);
      wait_for([&] { return complete_rows(run) >= target || !trainer.running(); }, 30);
      pause_ms(20);
    } else if (kind == 1) {
      wait_for([&] { return std::filesystem::exists(run) && temporaries() > 0; }, 30);
    } else {
      pause_ms(100);
    }
    if (!trainer.running()) break;  // it finished first
    trainer.signal(SIGKILL);
    CHECK(trainer.wait() == 128 + SIGKILL);
    if (kind == 1 && temporaries() > 0) ++kills_in_saves;
    CAPTURE(rounds);
    // What the kill left: a checkpoint that loads, a log that kept every row it ever had.
    const Checkpoint saved = read_checkpoint(run + "/checkpoint.safetensors");
    CHECK(load_model(saved, run + "/checkpoint.safetensors") != nullptr);
    std::istringstream lines(file_text(run + "/log.csv"));
    std::vector<std::string> rows;
    for (std::string line; std::getline(lines, line);) rows.push_back(line);
    rows.erase(rows.begin());  // the header
    if (!rows.empty() && file_text(run + "/log.csv").back() != '\n') rows.pop_back();  // cut short: dropped on resume
    REQUIRE(rows.size() >= rows_seen.size());
    CHECK(std::equal(rows_seen.begin(), rows_seen.end(), rows.begin()));  // the rows seen before are still there
    CHECK(static_cast<int64_t>(rows.size()) >= saved.step);
    rows_seen = rows;
  }
  MESSAGE(rounds, " kills, ", kills_in_saves, " of them while a file was being replaced");
  CHECK(rounds >= 6);
  CHECK(kills_in_saves >= 1);  // at least one kill landed while a file was being written
  Background last(args(run, true), dir / "last.txt");
  const int code = last.wait();
  CHECK_MESSAGE((code == 0 || last.output().find("already at step 24 of 24") != std::string::npos), last.output());
  CHECK(logged_steps(run) == logged_steps(dir / "straight"));
  CHECK(logged_losses(run) == expected);  // the same numbers as a run never killed
  CHECK(temporaries() == 0);
  CHECK(read_checkpoint(run + "/checkpoint.safetensors").step == 24);
}
