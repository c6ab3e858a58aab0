// The `siammae` program as a user runs it: exit codes, one-line errors, help texts, and
// check-grads on the fixture the PyTorch twin wrote.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>

#include <fstream>

#include "data/davis.h"
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
  fails_with([](TrainOptions& b) { b.batch = 0; }, "[train] --batch must be > 0, got 0");
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
