// What the DAVIS, VIP and JHMDB pipelines share: preparing frames, moving labels between
// image resolution and the feature grid, and running propagation through one video.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/image.h"
#include "eval/features.h"
#include "eval/metrics.h"
#include "eval/propagation.h"

namespace sm {

// How frames are sized before feature extraction (see evaluation_frame_size).
struct FrameOptions {
  int64_t size = 480;   // --size: the short side; 480 keeps DAVIS at its native 480p
  bool square = false;  // resize to size x size instead (videowalk's JHMDB setting)
};

// A frame file -> (3, h, w) float32, bilinearly resized to `size`, ImageNet-normalized.
Tensor load_frame(const std::string& path, FrameSize size);

// A label map (H, W) -> one channel per label 0..num_labels-1 (ids >= num_labels, such as
// void 255, get none), bilinearly resized to the (h, w) feature grid: (h, w, K) soft labels.
// videowalk downsamples its one-hot maps the same way (cv2 INTER_LINEAR).
Tensor downsample_labels(const LabelMap& map, int64_t num_labels, int64_t height, int64_t width);
// Soft labels (h, w, K) -> bilinear upsampling to (height, width) -> argmax over K: the label
// map of channel indices.
LabelMap upsample_argmax(const Tensor& labels, int64_t height, int64_t width);

// Runs label propagation through one video. first_labels(h, w) gives frame 0's labels on the
// (h, w) feature grid, (h, w, K); on_frame(t, labels) then receives the soft labels (h, w, K)
// of every frame t = 0, 1, ..., frame 0's being first_labels itself.
void propagate_video(FrameFeatures& features, const std::vector<std::string>& frame_paths, const FrameOptions& frames,
                     const PropagationOptions& options, const std::function<Tensor(int64_t, int64_t)>& first_labels,
                     const std::function<void(int64_t, const Tensor&)>& on_frame);

// The lines of a list file (videowalk's *_vallist.txt), each split at whitespace; blank
// lines are skipped.
std::vector<std::vector<std::string>> read_list_file(const std::string& path);
// `path` itself when absolute, else root/path.
std::string resolve_path(const std::string& root, const std::string& path);

// Label maps <-> palette images (the palette indices are the labels).
LabelMap label_map_of(const IndexedImage& image);
IndexedImage indexed_image_of(const LabelMap& map, const Palette& palette);
LabelMap read_label_map(const std::string& path);  // an indexed or 8-bit grey PNG

// `frame` with the labelled pixels (label > 0) blended half-and-half with their palette colour,
// like the DAVIS toolkit's overlay_semantic_mask.
Image overlay_labels(const Image& frame, const LabelMap& labels, const Palette& palette);
// The same picture scaled to `width` pixels wide, for contact sheets.
Image shrink_to_width(const Image& image, int64_t width);

}  // namespace sm
