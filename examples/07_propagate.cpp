// Example 7: label propagation, the way SiamMAE is evaluated. The first frame of a DAVIS video
// comes with the object's mask; every later frame gets its mask from the frames before it:
// each feature cell copies the labels of the cells it resembles most (top 7 by cosine
// similarity, within 20 cells) in the first frame and the 20 previous frames. The encoder
// only supplies the features; the better they match the same point across frames, the better
// the masks. Writes each frame with its predicted mask blended in, and a strip of six.
//   build/examples/07_propagate [CHECKPOINT|untrained [DAVIS [OUT]]]
//   defaults: runs/06_pretrain/checkpoint.safetensors if it exists, else an untrained tiny
//   encoder; data/samples/davis-240p; runs/07_propagate.
// About 15 s on 2 cores for the 50 frames of blackswan at 240 px.
#include <filesystem>
#include <iostream>

#include "data/davis.h"
#include "eval/pipeline.h"
#include "models/siammae/features.h"

using namespace sm;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  const std::string trained = "runs/06_pretrain/checkpoint.safetensors";
  std::string checkpoint = argc > 1 ? argv[1] : (fs::exists(trained) ? trained : "untrained");
  const std::string root = argc > 2 ? argv[2] : "data/samples/davis-240p";
  const fs::path out = argc > 3 ? argv[3] : "runs/07_propagate";
  NoGradGuard no_grad;  // nothing here is trained

  // The encoder whose features are compared: a trained checkpoint, or the untrained tiny
  // preset (already a fair matcher: its patches embed colour and position).
  std::unique_ptr<EncoderFeatures> features = checkpoint == "untrained"
                                                  ? random_features(siammae_preset("tiny"), 0)
                                                  : checkpoint_features(checkpoint);
  std::cout << "features: " << features->name() << "\n";

  // One sequence of the dataset: its frames and, for scoring, every frame's annotation.
  const DavisDataset dataset = DavisDataset::open(root, "val", "2017", "240p");
  const DavisSequence& video = dataset.sequence("blackswan");
  const std::vector<IndexedImage> masks = read_masks(video);
  const int64_t frames = static_cast<int64_t>(video.frame_paths.size());

  // Frames go to the encoder at 240 px on the short side, cut to a multiple of the patch size:
  // 427x240 -> 424x240, a 30 x 53 grid of 8 px cells.
  const ImageSize original = read_image_size(video.frame_paths[0]);
  const FrameSize size = evaluation_frame_size(original.height, original.width, 240, features->stride());
  const int64_t grid_h = size.height / features->stride(), grid_w = size.width / features->stride();
  auto frame_features = [&](int64_t t) { return features->extract(load_frame(video.frame_paths[t], size)); };

  // Frame 0: the given mask, as one soft channel per label (background, swan) on the grid.
  const LabelMap first = label_map_of(masks[0]);
  const int64_t num_labels = first.max_label() + 1;
  LabelPropagator propagator(PropagationOptions::davis());  // top-k 7, queue 20, radius 20, temperature 0.7
  propagator.start(frame_features(0), downsample_labels(first, num_labels, grid_h, grid_w));  // (30, 53, C), (30, 53, 2)

  const Palette palette = davis_palette();
  fs::create_directories(out);
  std::vector<std::vector<Image>> strip(1);
  double j_propagated = 0, j_copied = 0;
  for (int64_t t = 1; t < frames; ++t) {
    const Tensor labels = propagator.step(frame_features(t));                     // (30, 53, 2) soft labels
    const LabelMap predicted = upsample_argmax(labels, original.height, original.width);  // (240, 427) label ids
    const LabelMap truth = label_map_of(masks[t]);
    // J, the region similarity: intersection over union with the annotation, for the swan (id 1).
    const double j = region_similarity(binary_mask(predicted, 1), binary_mask(truth, 1));
    j_propagated += j;
    j_copied += region_similarity(binary_mask(first, 1), binary_mask(truth, 1));  // the mask never moving
    if (t % 10 == 0) std::cout << "frame " << t << "  J " << j << "\n";

    const Image overlay = overlay_labels(read_image(video.frame_paths[t]), predicted, palette);
    write_jpeg((out / fs::path(video.frame_paths[t]).filename()).string(), overlay);  // 00001.jpg, ...
    if (t % (frames / 6) == 0 && strip[0].size() < 6) strip[0].push_back(overlay);
  }
  write_jpeg((out / "strip.jpg").string(), make_grid(strip));
  j_propagated /= static_cast<double>(frames - 1);
  j_copied /= static_cast<double>(frames - 1);
  std::cout << "mean J over frames 1-" << frames - 1 << ": " << j_propagated << " (copying the first mask: " << j_copied
            << ")\noverlays in " << out.string() << "/, six of them side by side in " << (out / "strip.jpg").string()
            << "\n";
  return j_propagated > j_copied ? 0 : 1;
}
