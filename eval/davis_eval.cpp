#include "eval/davis_eval.h"

#include <algorithm>
#include <filesystem>

#include "data/davis.h"
#include "data/files.h"
#include "eval/progress.h"

namespace sm {

namespace {

namespace fs = std::filesystem;

std::vector<DavisSequence> selected_sequences(const DavisEvalOptions& o) {
  const DavisDataset dataset = DavisDataset::open(o.root, o.split, o.year, o.resolution);
  if (o.sequences.empty()) return dataset.sequences;
  std::vector<DavisSequence> out;
  for (const std::string& name : o.sequences) out.push_back(dataset.sequence(name));
  return out;
}

std::string result_path(const std::string& folder, const std::string& sequence, const std::string& frame_path) {
  return (fs::path(folder) / sequence / (file_stem(frame_path) + ".png")).string();
}

// Every frame's annotation: the split must be fully annotated (val is) to be scored.
std::vector<LabelMap> annotations(const DavisSequence& sequence) {
  check(sequence.mask_paths.size() == sequence.frame_paths.size(), "davis", sequence.name, " has ",
        sequence.mask_paths.size(), " annotations for ", sequence.frame_paths.size(),
        " frames; only fully annotated splits can be scored");
  std::vector<LabelMap> out;
  for (const IndexedImage& mask : read_masks(sequence)) out.push_back(label_map_of(mask));
  return out;
}

// The overlays of one sequence, and a strip of up to 6 evenly spaced frames: annotation (or
// the plain frame where there is none) on top, prediction below.
void write_overlays(const std::string& out, const DavisSequence& sequence, const std::vector<LabelMap>& predicted) {
  const Palette palette = davis_palette();
  const fs::path folder = fs::path(out) / "overlays" / sequence.name;
  const int64_t frames = static_cast<int64_t>(predicted.size()), shown = std::min<int64_t>(6, frames);
  std::vector<int64_t> picks;
  for (int64_t i = 0; i < shown; ++i) picks.push_back(shown > 1 ? i * (frames - 1) / (shown - 1) : 0);
  std::vector<std::vector<Image>> strip(2);
  for (int64_t t = 0; t < frames; ++t) {
    const Image frame = read_image(sequence.frame_paths[t]);
    const Image blended = overlay_labels(frame, predicted[t], palette);
    write_jpeg((folder / (file_stem(sequence.frame_paths[t]) + ".jpg")).string(), blended);
    if (std::find(picks.begin(), picks.end(), t) == picks.end()) continue;
    const auto mask = std::find(sequence.mask_frames.begin(), sequence.mask_frames.end(), t);
    const Image annotated = mask == sequence.mask_frames.end()
                                ? frame
                                : overlay_labels(frame, label_map_of(read_mask(sequence, mask - sequence.mask_frames.begin())), palette);
    strip[0].push_back(shrink_to_width(annotated, 320));
    strip[1].push_back(shrink_to_width(blended, 320));
  }
  write_jpeg((fs::path(out) / "overlays" / (sequence.name + ".jpg")).string(), make_grid(strip));
}

// Frames of all the sequences: the units of the progress line.
int64_t count_frames(const std::vector<DavisSequence>& sequences) {
  int64_t frames = 0;
  for (const DavisSequence& sequence : sequences) frames += static_cast<int64_t>(sequence.frame_paths.size());
  return frames;
}

}  // namespace

DavisSummary evaluate_davis(const std::string& results, const DavisEvalOptions& options) {
  const std::vector<DavisSequence> sequences = selected_sequences(options);
  WorkProgress progress("score", count_frames(sequences), "frames", options.progress);
  std::vector<ObjectScores> scores;
  for (size_t s = 0; s < sequences.size(); ++s) {
    const DavisSequence& sequence = sequences[s];
    progress.start_item("sequence", s, sequences.size(), sequence.name);
    const std::vector<LabelMap> truth = annotations(sequence);
    std::vector<LabelMap> predicted(truth.size());
    for (size_t t = 1; t + 1 < truth.size(); ++t) {
      const std::string path = result_path(results, sequence.name, sequence.frame_paths[t]);
      check(fs::exists(path), "davis", "result ", path, " not found");
      predicted[t] = read_label_map(path);
      check(predicted[t].height == truth[t].height && predicted[t].width == truth[t].width, "davis", "result ", path,
            " is ", predicted[t].height, "x", predicted[t].width, " but its annotation is ", truth[t].height, "x",
            truth[t].width);
    }
    for (ObjectScores& object : score_davis_sequence(sequence.name, truth, predicted, options.bound_th))
      scores.push_back(std::move(object));
    progress.advance(static_cast<int64_t>(truth.size()));
    progress.finish_item(std::to_string(truth.size()) + " frames scored");
  }
  progress.finish();
  return summarize_davis(scores);
}

DavisSummary propagate_davis(FrameFeatures* features, const DavisPropagateOptions& options) {
  check(!options.out.empty(), "davis", "no output folder given");
  const Palette palette = davis_palette();
  const std::vector<DavisSequence> sequences = selected_sequences(options.dataset);
  WorkProgress progress("propagate", count_frames(sequences), "frames", options.progress);
  for (size_t s = 0; s < sequences.size(); ++s) {
    const DavisSequence& sequence = sequences[s];
    progress.start_item("sequence", s, sequences.size(), sequence.name);
    LabelMap first = label_map_of(read_first_mask(sequence));
    for (uint8_t& v : first.labels) v = v == 255 ? 0 : v;  // void is not propagated
    const int64_t num_labels = first.max_label() + 1;       // background and objects 1..max
    std::vector<LabelMap> predicted(sequence.frame_paths.size(), first);
    // Frame 0 keeps the given mask; the identity baseline keeps it everywhere.
    if (features) {
      propagate_video(*features, sequence.frame_paths, options.frames, options.propagation,
                      [&](int64_t h, int64_t w) { return downsample_labels(first, num_labels, h, w); },
                      [&](int64_t t, const Tensor& labels) {
                        if (t > 0) predicted[t] = upsample_argmax(labels, first.height, first.width);
                        progress.advance();
                      });
    } else {
      progress.advance(static_cast<int64_t>(predicted.size()));
    }
    for (size_t t = 0; t < predicted.size(); ++t)
      write_indexed_png(result_path(options.out, sequence.name, sequence.frame_paths[t]),
                        indexed_image_of(predicted[t], palette));
    if (options.overlay) write_overlays(options.out, sequence, predicted);
    progress.finish_item(std::to_string(predicted.size()) + " frames");
  }
  progress.finish();
  DavisEvalOptions scoring = options.dataset;
  scoring.progress = options.progress;
  const DavisSummary summary = evaluate_davis(options.out, scoring);
  write_davis_csv(summary, options.out, options.dataset.split);
  return summary;
}

}  // namespace sm
