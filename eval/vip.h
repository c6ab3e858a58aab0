// VIP (video human parsing, 20 classes): propagate each video's first-frame part labels and
// score them with one confusion matrix over all frames (videowalk's eval_vip.py).
//
// Layout (VIP_Fine): Images/<video>/<frame>.jpg and Annotations/Category_ids/<video>/<frame>.png,
// an 8-bit image of class ids 0..19 for every frame of Images (255 = ignored).
#pragma once

#include <string>
#include <vector>

#include "eval/metrics.h"
#include "eval/pipeline.h"

namespace sm {

struct VipOptions {
  std::string root{};  // --vip: the VIP_Fine folder, and the base of relative paths in the list
  // --list: videowalk's vip_vallist.txt ("<frame folder> <label folder>" per line) or video
  // names one per line; empty: every video under root/Images.
  std::string list{};
  std::string out{};  // --out: <out>/<video>/<frame>.png, greyscale class ids
  FrameOptions frames{};  // short side 480 (CropMAE: long side 880)
  PropagationOptions propagation = PropagationOptions::vip();
  int64_t num_classes = 20;
  bool progress = true;  // a progress line and one line per video on stderr
};

struct VipVideo {
  std::string name, frame_folder, label_folder;
};
// The videos the options select, with checked folders.
std::vector<VipVideo> vip_videos(const VipOptions& options);

// Scores <results>/<video>/<frame>.png against the annotation of the same name, for every
// annotated frame (a prediction of another size is resized to it with nearest neighbours, as
// eval_vip.py does). mean_iou() of the result is the VIP number.
ConfusionMatrix evaluate_vip(const std::string& results, const VipOptions& options);

// Propagates each video's first annotation, writes the results to options.out, scores them.
ConfusionMatrix propagate_vip(FrameFeatures& features, const VipOptions& options);

}  // namespace sm
