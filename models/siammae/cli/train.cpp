// siammae train: pretraining from the command line.
//
// Each flag names one setting of TrainOptions (or of the model config); its default and type
// come from TrainOptions' own JSON form, so the flags, config.json and --resume can never
// disagree. With --resume the settings saved in RUN_DIR/config.json come back, and only the
// flags given again on the command line change them (e.g. a larger --steps).
#include <filesystem>
#include <fstream>
#include <iostream>

#include "models/siammae/cli/commands.h"
#include "models/siammae/cli/flags.h"
#include "models/siammae/train.h"

namespace sm::cli {

namespace {

struct Setting {
  const char* flag;
  const char* key;  // in TrainOptions::to_json(); "model." for the model config
  const char* help;
};

const std::vector<Setting>& settings() {
  static const std::vector<Setting> list{
      {"data", "data", "video roots, comma-separated: folders of frame folders (or one frame folder)"},
      {"out", "out_dir", "the run directory (config.json, log.csv, loss.png, recon_*.png, checkpoint)"},
      {"steps", "steps", "training steps (batches); or give --epochs"},
      {"epochs", "epochs", "passes over the videos, `repeats` pairs per video each"},
      {"batch", "batch", "frame pairs per step"},
      {"blr", "blr", "base learning rate; lr = blr * batch / 256"},
      {"warmup", "warmup", "linear warmup: steps, or a percentage of the steps like 5%"},
      {"min-lr", "min_lr", "learning rate at the end of the cosine"},
      {"weight-decay", "weight_decay", "AdamW weight decay (not on biases, norms, tokens)"},
      {"beta1", "beta1", "AdamW beta1"},
      {"beta2", "beta2", "AdamW beta2"},
      {"clip-grad", "clip_grad", "clip the global gradient norm to this; 0 = off"},
      {"mask-ratio", "model.mask_ratio", "fraction of f2's patches hidden"},
      {"masking", "model.mask_kind", "random or grid"},
      {"symmetric-masking", "model.symmetric_masking", "mask f1 at the same ratio too (true/false)"},
      {"decoder", "model.decoder", "cross-self, cross or joint"},
      {"encoder", "model.encoder", "siamese or joint"},
      {"norm-pix-loss", "model.norm_pix_loss", "targets normalized per patch (true/false)"},
      {"gap-min", "gap_min", "fewest frames between f1 and f2"},
      {"gap-max", "gap_max", "most frames between f1 and f2 (clamped to the clip)"},
      {"repeats", "repeats", "pairs per loaded video (repeated sampling)"},
      {"crop-scale-min", "crop_scale_min", "smallest random-resized-crop area fraction (the largest is 1)"},
      {"hflip", "hflip", "probability of a horizontal flip (same for both frames)"},
      {"color-jitter", "color_jitter", "brightness/contrast/saturation jitter strength; 0 = off"},
      {"workers", "workers", "loader threads decoding ahead of training"},
      {"threads", "threads", "CPU threads for the math; 0 = one per core"},
      {"seed", "seed", "seed of every random draw (init, pairs, crops, masks)"},
      {"device", "device", "cpu or cuda"},
      {"eval-every", "eval_every", "steps between recon_<step>.png pictures and checkpoints"},
      {"log-every", "log_every", "steps between log lines when the output is not a terminal"},
      {"stop-after", "stop_after", "stop after this many steps of this run (checkpoint saved); 0 = no limit"},
  };
  return list;
}

// The JSON value at "key" or "model.key".
nlohmann::json& slot(nlohmann::json& options, const std::string& key) {
  const size_t dot = key.find('.');
  return dot == std::string::npos ? options[key] : options[key.substr(0, dot)][key.substr(dot + 1)];
}

// The flag's text as a value of the same JSON type as `like`.
nlohmann::json typed_value(const Flags& flags, const std::string& flag, const nlohmann::json& like) {
  if (like.is_array()) return flags.list(flag);
  if (like.is_boolean()) {
    const std::string v = flags.text(flag);
    check(v == "true" || v == "false", flags.command(), "--", flag, " expects true or false, got '", v, "'");
    return v == "true";
  }
  if (like.is_number_integer()) return flags.integer(flag);
  if (like.is_number()) return flags.number(flag);
  return flags.text(flag);
}

std::string default_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) return "";
  return value.dump();
}

}  // namespace

int train(int argc, char** argv) {
  Flags flags("train",
              "Pretrains SiamMAE on folders of video frames: pairs of frames 4-48 apart, the past frame whole and\n"
              "95 % of the future frame's patches hidden, the future frame reconstructed. Defaults follow the paper\n"
              "(AdamW 0.9/0.95, weight decay 0.05, blr 1.5e-4, warmup then cosine, crop 0.5-1, flip, no colour jitter,\n"
              "repeated sampling 2). Ctrl-C stops after the current step and saves a checkpoint.");
  const nlohmann::json defaults = TrainOptions{}.to_json();
  flags.add("config", "tiny", "model preset (tiny|small|vits16|vits8|micro) or a config .json file");
  for (const Setting& s : settings()) {
    nlohmann::json copy = defaults;
    const bool model_setting = std::string(s.key).rfind("model.", 0) == 0;
    flags.add(s.flag, model_setting ? "the preset's" : default_text(slot(copy, s.key)), s.help);
  }
  flags.add_switch("resume", "continue the run in --out from its checkpoint and config.json");
  if (!flags.parse(argc, argv, 2)) return 0;
  check(flags.given("out"), "train", "--out is required (see siammae train --help)");

  nlohmann::json options = defaults;
  const std::filesystem::path run = flags.text("out");
  if (flags.on("resume")) {
    std::ifstream saved(run / "config.json");
    check(saved.good(), "train", "--resume: ", (run / "config.json").string(), " does not exist");
    try {
      options = nlohmann::json::parse(saved);
    } catch (const nlohmann::json::exception& e) {
      fail("train", (run / "config.json").string(), " is not valid JSON (", e.what(), ")");
    }
  } else {
    options["model"] = resolve_config(flags.text("config")).to_json();
  }
  check(!flags.on("resume") || !flags.given("config"), "train",
        "--resume continues with the saved model; --config cannot change it");
  for (const Setting& s : settings()) {
    if (!flags.given(s.flag)) continue;
    nlohmann::json& value = slot(options, s.key);
    value = typed_value(flags, s.flag, value);
  }
  options["resume"] = flags.on("resume");
  options.erase("lr");  // derived from blr and batch
  const TrainSummary summary = train(TrainOptions::from_json(options), std::cout);
  std::printf("loss %.4f -> %.4f over steps %ld..%ld, %.1f pairs/s, %.0f%% of the time waiting for data\n",
              summary.first_loss, summary.last_loss, static_cast<long>(summary.first_step),
              static_cast<long>(summary.last_step), summary.pairs_per_second, 100 * summary.data_wait_share);
  return 0;
}

}  // namespace sm::cli
