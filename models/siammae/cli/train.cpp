// siammae train: pretraining from the command line.
//
// The flags are the settings of TrainOptions and of the model config that have one (see
// TrainOptions::fields() and SiamMAEConfig::fields()): their help, defaults and parsing come
// from those tables, so the flags, config.json and --resume can never disagree. With --resume
// the settings saved in RUN_DIR/config.json come back, and only the flags given again on the
// command line change them (e.g. a larger --steps).
#include <filesystem>
#include <iostream>

#include "models/siammae/cli/commands.h"
#include "models/siammae/cli/flags.h"
#include "models/siammae/train.h"

namespace sm::cli {

namespace {

// Declares a flag for every setting of `table` that has one.
template <typename S> void add_flags(Flags& flags, const FieldTable<S>& table, const std::function<std::string(const Field<S>&)>& default_text) {
  for (const Field<S>& f : table.fields())
    if (!f.flag.empty()) flags.add(f.flag, default_text(f), f.help);
}

// Sets each setting of `table` whose flag was given on the command line.
template <typename S> void apply_flags(const Flags& flags, const FieldTable<S>& table, S& settings) {
  for (const Field<S>& f : table.fields())
    if (!f.flag.empty() && flags.given(f.flag)) f.parse(settings, flags.text(f.flag));
}

// The settings saved in a run's config.json.
TrainOptions saved_options(const std::filesystem::path& run) {
  const std::string path = (run / "config.json").string();
  check(std::filesystem::exists(path), "train", "--resume: ", path, " does not exist");
  return read_settings_file(path, "train", TrainOptions::from_json);
}

}  // namespace

int train(int argc, char** argv) {
  Flags flags("train",
              "Pretrains SiamMAE on folders of video frames: pairs of frames 4-48 apart, the past frame whole and\n"
              "95 % of the future frame's patches hidden, the future frame reconstructed. Defaults follow the paper\n"
              "(AdamW 0.9/0.95, weight decay 0.05, blr 1.5e-4, warmup then cosine, crop 0.5-1, flip, no colour jitter,\n"
              "repeated sampling 2). Ctrl-C or SIGTERM stops after the current step, saves a checkpoint and exits with\n"
              "130 or 143; a second one stops at once (every file stays whole).");
  const TrainOptions defaults;
  flags.add("config", "tiny", "model preset (tiny|small|vits16|vits8|micro) or a config .json file");
  add_flags<TrainOptions>(flags, TrainOptions::fields(), [&](const Field<TrainOptions>& f) { return f.text(defaults); });
  add_flags<SiamMAEConfig>(flags, SiamMAEConfig::fields(), [](const Field<SiamMAEConfig>&) { return "the preset's"; });
  flags.add_switch("resume", "continue the run in --out from its checkpoint and config.json");
  if (!flags.parse(argc, argv, 2)) return 0;
  check(flags.given("out"), "train", "--out is required (see siammae train --help)");
  check(!flags.on("resume") || !flags.given("config"), "train",
        "--resume continues with the saved model; --config cannot change it");

  TrainOptions options = defaults;
  if (flags.on("resume")) {
    options = saved_options(flags.text("out"));
  } else {
    options.model = resolve_config(flags.text("config"));
  }
  apply_flags(flags, TrainOptions::fields(), options);
  apply_flags(flags, SiamMAEConfig::fields(), options.model);
  options.resume = flags.on("resume");
  const TrainSummary summary = train(options, std::cout);
  if (summary.rank == 0) {  // the other ranks of data-parallel training leave the report to rank 0
    std::printf("loss %.4f -> %.4f over steps %ld..%ld, %.1f pairs/s, %.0f%% of the time waiting for data; peak memory "
                "%.0f MB in tensors, %.0f MB reserved on the %s\n",
                summary.first_loss, summary.last_loss, static_cast<long>(summary.first_step),
                static_cast<long>(summary.last_step), summary.pairs_per_second, 100 * summary.data_wait_share,
                static_cast<double>(summary.peak_tensor_bytes) / 1e6,
                static_cast<double>(summary.peak_reserved_bytes) / 1e6, options.device.c_str());
    if (summary.skipped_batches > 0)
      std::printf("%ld batches with a non-finite loss or gradients were skipped\n",
                  static_cast<long>(summary.skipped_batches));
  }
  // Stopped by a signal: the exit code a shell expects of a process it ended (130 for Ctrl-C, 143 for SIGTERM).
  return summary.stop_signal != 0 ? 128 + summary.stop_signal : 0;
}

}  // namespace sm::cli
