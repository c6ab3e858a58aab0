// siammae propagate / eval-davis / propagate-vip / propagate-jhmdb: label propagation with the
// features of a trained encoder (or a baseline), scored the way the field reports it.
#include <cmath>
#include <cstdio>

#include "eval/davis_eval.h"
#include "eval/jhmdb.h"
#include "eval/vip.h"
#include "models/siammae/cli/commands.h"
#include "models/siammae/cli/flags.h"
#include "models/siammae/features.h"

namespace sm::cli {

namespace {

// Flags choosing the features: a checkpoint, or one of the baselines.
void add_feature_flags(Flags& flags, bool identity_allowed) {
  flags.add("checkpoint", "",
            "a checkpoint written by siammae train, or any ViT encoder in safetensors (timm, DINO, MAE, ...; "
            "tools/convert_checkpoint.py converts a .pth): its encoder gives the features")
      .add("heads", "", "attention heads of an imported ViT (default: the standard number for its width)")
      .add("pos-resize", "bicubic",
           "how the position table is resized to other frame sizes: bicubic (MAE, this library), dino "
           "(DINO's interpolate_pos_encoding) or timm (antialiased)")
      .add("features", "",
           std::string("a baseline instead of --checkpoint: pixels (raw RGB patches), random (an untrained "
                       "encoder)") +
               (identity_allowed ? ", identity (copy the first mask to every frame)" : ""))
      .add("patch", "8", "patch size of the pixels baseline")
      .add("config", "tiny", "model preset of the random baseline")
      .add("seed", "0", "initialization seed of the random baseline")
      .add("device", "cpu", "cpu or cuda, for the encoder");
}

// Flags of the propagation itself, with the dataset's defaults (the paper's Table 4b).
void add_propagation_flags(Flags& flags, const PropagationOptions& defaults, const FrameOptions& frames) {
  auto text = [](double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%g", v);
    return std::string(buffer);
  };
  flags.add("topk", std::to_string(defaults.topk), "sources kept per target position, over all context frames")
      .add("queue", std::to_string(defaults.queue), "previous frames in the context, besides the first frame")
      .add("radius", text(defaults.radius), "neighbourhood in feature cells (<= 0: no restriction)")
      .add("temperature", text(defaults.temperature), "softmax temperature over the kept affinities")
      .add("window", "circle", "neighbourhood shape: circle (CRW, Euclidean) or square (DINO)")
      .add("size", std::to_string(frames.size), "short side of the frames fed to the features, in pixels");
}

PropagationOptions propagation_from(const Flags& flags, PropagationOptions options) {
  options.topk = flags.integer("topk");
  options.queue = flags.integer("queue");
  options.radius = flags.number("radius");
  options.temperature = flags.number("temperature");
  const std::string window = flags.text("window");
  check(window == "circle" || window == "square", flags.command(), "--window must be circle or square, got '", window,
        "'");
  options.window = window == "square" ? Neighborhood::Square : Neighborhood::Circle;
  check(options.topk >= 1 && options.queue >= 0 && options.temperature > 0, flags.command(),
        "need --topk >= 1, --queue >= 0 and --temperature > 0");
  return options;
}

// The frame size and propagation settings every propagation command reads the same way.
template <typename Options> void read_propagation_flags(const Flags& flags, Options& options) {
  options.frames.size = flags.integer("size");
  options.propagation = propagation_from(flags, options.propagation);
}

// The features the flags ask for; nullptr for the identity baseline.
std::unique_ptr<FrameFeatures> chosen_features(const Flags& flags) {
  const bool has_checkpoint = flags.given("checkpoint"), has_baseline = flags.given("features");
  check(has_checkpoint != has_baseline, flags.command(), "give either --checkpoint or --features (see siammae ",
        flags.command(), " --help)");
  const Device device = flags.device("device");
  if (has_checkpoint) {
    VitImportOptions vit;
    vit.heads = flags.given("heads") ? flags.integer("heads") : 0;
    check(!flags.given("heads") || vit.heads > 0, flags.command(), "--heads must be positive");
    vit.position_resize = parse_position_resize(flags.text("pos-resize"));
    return checkpoint_features(flags.text("checkpoint"), device, vit);
  }
  const std::string kind = flags.text("features");
  if (kind == "pixels") return std::make_unique<PixelFeatures>(flags.integer("patch"));
  if (kind == "random")
    return random_features(resolve_config(flags.text("config")), static_cast<uint64_t>(flags.integer("seed")), device);
  check(kind == "identity", flags.command(), "--features must be pixels, random or identity, got '", kind, "'");
  check(flags.command() == "propagate", flags.command(), "the identity baseline is for DAVIS (siammae propagate) only");
  return nullptr;
}

// The same, after saying in one line which features they are (what an imported ViT was read as).
std::unique_ptr<FrameFeatures> features_from(const Flags& flags) {
  std::unique_ptr<FrameFeatures> features = chosen_features(flags);
  std::printf("features: %s\n", features ? features->name().c_str() : "identity (the first mask copied)");
  std::fflush(stdout);
  return features;
}

DavisEvalOptions davis_dataset_from(const Flags& flags) {
  DavisEvalOptions d;
  d.root = flags.text("davis");
  d.split = flags.text("split");
  d.year = flags.text("year");
  d.resolution = flags.text("resolution");
  d.sequences = flags.list("sequences");
  return d;
}

void add_davis_flags(Flags& flags) {
  flags.add_required("davis", "DAVIS root: JPEGImages/, Annotations/, ImageSets/")
      .add("split", "val", "ImageSets/<year>/<split>.txt lists the sequences")
      .add("year", "2017", "which ImageSets folder")
      .add("resolution", "480p", "the JPEGImages/Annotations sub-folder")
      .add("sequences", "", "only these sequences, comma-separated (default: the whole split)");
}

}  // namespace

int propagate(int argc, char** argv) {
  Flags flags("propagate",
              "Semi-supervised video object segmentation on DAVIS by label propagation (the CRW protocol): each\n"
              "sequence's first-frame mask is carried through the video by feature affinities. Writes the\n"
              "masks as <out>/<seq>/<frame>.png, scores them as davis2017-evaluation does (first and last frames\n"
              "excluded), writes global_results-<split>.csv and per-sequence_results-<split>.csv into --out and\n"
              "prints J&F.");
  add_feature_flags(flags, true);
  add_davis_flags(flags);
  flags.add_required("out", "results folder");
  const DavisPropagateOptions defaults;
  add_propagation_flags(flags, defaults.propagation, defaults.frames);
  flags.add_switch("overlay", "also write frames with the predicted mask blended in, and a strip per sequence");
  if (!flags.parse(argc, argv, 2)) return 0;
  DavisPropagateOptions options;
  options.dataset = davis_dataset_from(flags);
  options.out = flags.text("out");
  read_propagation_flags(flags, options);
  options.overlay = flags.on("overlay");
  std::unique_ptr<FrameFeatures> features = features_from(flags);
  const DavisSummary summary = propagate_davis(features.get(), options);
  std::printf("%s", format_davis_summary(summary).c_str());
  std::printf("J&F-Mean %.4f (J %.4f, F %.4f) over %zu objects; results in %s\n", summary.jf_mean, summary.j_mean,
              summary.f_mean, summary.objects.size(), options.out.c_str());
  return 0;
}

int eval_davis(int argc, char** argv) {
  Flags flags("eval-davis",
              "Scores any method's DAVIS results (<results>/<seq>/<frame>.png, palette indices = object ids) with\n"
              "the davis2017-evaluation semi-supervised protocol; writes global_results-<split>.csv and\n"
              "per-sequence_results-<split>.csv into --out (default: the results folder, as the toolkit does).");
  add_davis_flags(flags);
  flags.add_required("results", "the results folder to score (only read)")
      .add("out", "", "folder for the two CSV files (default: --results)");
  if (!flags.parse(argc, argv, 2)) return 0;
  DavisEvalOptions dataset = davis_dataset_from(flags);
  dataset.progress = true;
  const DavisSummary summary = evaluate_davis(flags.text("results"), dataset);
  const std::string csv_folder = flags.given("out") ? flags.text("out") : flags.text("results");
  write_davis_csv(summary, csv_folder, dataset.split);
  std::printf("%s", format_davis_summary(summary).c_str());
  std::printf("J&F-Mean %.4f (J %.4f, F %.4f) over %zu objects; CSV files in %s\n", summary.jf_mean, summary.j_mean,
              summary.f_mean, summary.objects.size(), csv_folder.c_str());
  return 0;
}

int propagate_vip(int argc, char** argv) {
  Flags flags("propagate-vip",
              "Video human parsing on VIP by label propagation: each video's first-frame part labels (20 classes)\n"
              "are propagated; one confusion matrix over all frames gives the mIoU.");
  add_feature_flags(flags, false);
  const VipOptions defaults;
  flags.add_required("vip", "the VIP_Fine folder (Images/, Annotations/Category_ids/)")
      .add("list", "", "videowalk's vip_vallist.txt, or video names one per line (default: every video)")
      .add_required("out", "results folder: <out>/<video>/<frame>.png class ids");
  add_propagation_flags(flags, defaults.propagation, defaults.frames);
  if (!flags.parse(argc, argv, 2)) return 0;
  VipOptions options;
  options.root = flags.text("vip");
  options.list = flags.text("list");
  options.out = flags.text("out");
  read_propagation_flags(flags, options);
  std::unique_ptr<FrameFeatures> features = features_from(flags);
  const ConfusionMatrix confusion = propagate_vip(*features, options);
  std::printf("VIP mIoU %.4f over %ld classes; results in %s\n", confusion.mean_iou(),
              static_cast<long>(confusion.num_classes()), options.out.c_str());
  return 0;
}

int propagate_jhmdb(int argc, char** argv) {
  Flags flags("propagate-jhmdb",
              "Pose tracking on JHMDB by label propagation: the first frame's 15 joints become Gaussian heat maps\n"
              "(sigma 0.5 cells) that are propagated and read back as keypoints; prints PCK@0.1 and PCK@0.2.");
  add_feature_flags(flags, false);
  const JhmdbOptions defaults;
  flags.add_required("jhmdb", "the base folder of the paths in --list")
      .add_required("list", "jhmdb_vallist.txt: a frame folder and its joint_positions.mat per line");
  add_propagation_flags(flags, defaults.propagation, defaults.frames);
  if (!flags.parse(argc, argv, 2)) return 0;
  JhmdbOptions options;
  options.root = flags.text("jhmdb");
  options.list = flags.text("list");
  read_propagation_flags(flags, options);
  std::unique_ptr<FrameFeatures> features = features_from(flags);
  const PckMeter pck = propagate_jhmdb(*features, options);
  std::printf("JHMDB PCK@0.1 %.2f, PCK@0.2 %.2f (percent, mean over %ld joints)\n", pck.pck(0.1), pck.pck(0.2),
              static_cast<long>(pck.num_joints()));
  return 0;
}

}  // namespace sm::cli
