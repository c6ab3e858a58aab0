// JHMDB pose propagation: the first frame's 15 joints become Gaussian heatmaps on the feature
// grid, are propagated like labels, and are read back as keypoints; PCK scores them
// (videowalk's data/jhmdb.py, utils/test_utils.py process_pose and eval/eval_pck.py).
//
// Layout: Rename_Images/<class>/<video>/00001.png ... and
// joint_positions/<class>/<video>/joint_positions.mat holding pos_img (2, 15, T): x and y of each
// joint in each frame, in 1-based pixels.
#pragma once

#include <string>
#include <vector>

#include "eval/metrics.h"
#include "eval/pipeline.h"

namespace sm {

// The joints of every frame of a joint_positions.mat, as 0-based pixels.
std::vector<Pose> read_jhmdb_joints(const std::string& mat_path);

// One channel per joint: a Gaussian of `sigma` cells around each joint (joints in grid cells),
// drawn like pose-hg-train's draw_labelmap (a (6 sigma + 1)-wide patch, peak 1 at the rounded
// position, clipped at the grid border; joints off the grid draw nothing): (h, w, J).
Tensor joint_heatmaps(const Pose& joints, int64_t height, int64_t width, double sigma = 0.5);
// Per joint: the weighted mean position (grid cells) of its `topk` strongest cells; invalid
// when its heatmap has no mass. heatmaps (h, w, J).
Pose heatmap_keypoints(const Tensor& heatmaps, int64_t topk = 5);

struct JhmdbOptions {
  std::string root{};  // --jhmdb: the base of relative paths in the list
  // --list: jhmdb_vallist.txt, one video per line: its frame folder and its
  // joint_positions.mat, in either order (videowalk and CropMAE differ).
  std::string list{};
  FrameOptions frames{.size = 320, .square = true};  // 320x320 like videowalk and CropMAE
  PropagationOptions propagation = PropagationOptions::jhmdb();
  double sigma = 0.5;     // heatmap sigma, in grid cells
  int64_t pose_topk = 5;  // cells averaged per joint (videowalk's process_pose defaults to 3)
  bool progress = true;   // a progress line and one line per video on stderr
};

// Propagates every listed video's first-frame pose and accumulates PCK over all of them
// (frames beyond the annotated ones are not used).
PckMeter propagate_jhmdb(FrameFeatures& features, const JhmdbOptions& options);

}  // namespace sm
