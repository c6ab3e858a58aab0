// Label propagation (the CRW / videowalk protocol that SiamMAE and CropMAE evaluate with).
//
// Labels are soft maps on the feature grid, one channel per object (DAVIS), class (VIP) or
// joint heatmap (JHMDB). For each new frame, every grid position looks at the context: the
// first frame (with its ground-truth labels) plus the previous `queue` frames (with their
// predicted labels). Affinity is the cosine similarity of L2-normalized features; sources in
// the queue count only within `radius` cells of the target position; the `topk` best sources
// over the whole context are kept, softmax(affinity / temperature) weighs them, and the
// target's label is the weighted sum of their labels.
//
// The work is split into square tiles of target positions, so memory stays bounded: a tile's
// affinity to one context frame is (tile^2, window) floats, a few MB at most, and the radius is
// applied by computing only the window of sources a tile can reach.
#pragma once

#include <cstdint>
#include <deque>

#include "tensor/tensor.h"

namespace sm {

// Which sources count as "within the radius" of a target cell (dy, dx cells away).
enum class Neighborhood {
  Circle,  // dy^2 + dx^2 < radius^2 (CRW / CropMAE: Euclidean distance, strict)
  Square,  // max(|dy|, |dx|) <= radius (DINO's window)
};

struct PropagationOptions {
  int64_t topk = 7;           // --topk: sources kept per target, over the whole context jointly
  int64_t queue = 20;         // --queue: previous frames in the context, besides the first frame
  double radius = 20;         // --radius: in feature cells; <= 0 turns the restriction off
  double temperature = 0.7;   // --temperature of the softmax over the kept affinities
  Neighborhood window = Neighborhood::Circle;  // --window circle|square
  // CRW restricts only the queue frames; DINO restricts the first frame too.
  bool restrict_first_frame = false;
  // CRW prefixes the video with `queue` copies of the first frame, so the queue starts full of
  // it (its top-k can then pick the same first-frame cell several times). DINO starts empty.
  bool pad_queue = true;
  int64_t tile = 8;  // target cells per tile side: smaller tiles compute fewer sources outside the radius

  // Table 4b of the paper: top-k / queue / neighbourhood per dataset (DAVIS is the default).
  static PropagationOptions davis() { return {}; }
  static PropagationOptions vip() { return {.topk = 10, .queue = 20, .radius = 8}; }
  static PropagationOptions jhmdb() { return {.topk = 7, .queue = 20, .radius = 20}; }
  // DINO's eval_video_segmentation.py: 7 previous frames, top-5, square window 12, T 0.1.
  static PropagationOptions dino() {
    return {.topk = 5, .queue = 7, .radius = 12, .temperature = 0.1, .window = Neighborhood::Square,
            .restrict_first_frame = true, .pad_queue = false};
  }
};

// Propagates labels through one video, frame by frame.
//   LabelPropagator propagator(options);
//   propagator.start(features0, labels0);        // (h, w, C), (h, w, K)
//   for (t = 1..) labels_t = propagator.step(features_t);   // (h, w, K)
class LabelPropagator {
 public:
  explicit LabelPropagator(PropagationOptions options = {});

  // Starts a video from its first frame: features (h, w, C) and ground-truth labels (h, w, K).
  void start(const Tensor& features, const Tensor& labels);
  // The next frame's features (h, w, C) -> its predicted soft labels (h, w, K). The frame and
  // its prediction then join the context of the frames after it.
  Tensor step(const Tensor& features);

  const PropagationOptions& options() const { return options_; }

 private:
  // A frame of the context, flattened: features (N, C) L2-normalized, labels (N, K). `copies`
  // counts how many queue slots it fills (more than one only for the padded first frame).
  struct ContextFrame {
    Tensor features, labels;
    int64_t copies = 1;
  };

  // A predicted frame joins the queue; the oldest slot leaves once the queue is full.
  void remember(const Tensor& features, const Tensor& labels);  // (N, C) normalized, (N, K)

  PropagationOptions options_;
  int64_t height_ = 0, width_ = 0;
  ContextFrame first_;
  std::deque<ContextFrame> queue_;
};

// x / max(||x||, 1e-12) over the last dim (torch.nn.functional.normalize).
Tensor l2_normalize(const Tensor& x);

}  // namespace sm
