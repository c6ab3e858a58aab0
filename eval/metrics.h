// The metrics the field reports for label propagation, reimplemented exactly:
//   DAVIS  J (region IoU) and F (boundary F-measure) as in davis2017-evaluation, semi-supervised;
//   VIP    mIoU over 20 classes from one confusion matrix (videowalk's eval_vip.py);
//   JHMDB  PCK with the 0.6 x box-diagonal normalizer (videowalk's eval_pck.py).
// Everything here works on in-memory label maps and keypoints; eval/davis.h, eval/vip.h and
// eval/jhmdb.h read and write the files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sm {

// A label image (H, W), row-major: object ids (DAVIS), class ids (VIP) or 0/1 (a binary mask).
struct LabelMap {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> labels;

  LabelMap() = default;
  LabelMap(int64_t height, int64_t width, uint8_t fill = 0);
  uint8_t& at(int64_t y, int64_t x) { return labels[y * width + x]; }
  uint8_t at(int64_t y, int64_t x) const { return labels[y * width + x]; }
  uint8_t max_label() const;  // 0 for an empty map
};

// 1 where `map` == id, else 0.
LabelMap binary_mask(const LabelMap& map, uint8_t id);
// Nearest-neighbour resize with pixel centres (PIL's NEAREST): (H, W) -> (height, width).
LabelMap resize_nearest(const LabelMap& map, int64_t height, int64_t width);

// ---- DAVIS ----

// J: |pred & truth| / |pred | truth| of two binary masks, 1 when both are empty.
double region_similarity(const LabelMap& prediction, const LabelMap& truth);
// The toolkit's seg2bmap: a pixel is boundary when it differs from its east, south or
// south-east neighbour; in the last row only east counts, in the last column only south,
// and the bottom-right pixel never is. So the image border itself is no boundary.
LabelMap boundary_map(const LabelMap& mask);
// Binary dilation with skimage's disk(radius) (x^2 + y^2 <= radius^2), like cv2.dilate:
// pixels outside the image do not contribute.
LabelMap dilate_disk(const LabelMap& mask, int64_t radius);
// Pixels of tolerance for boundary matching: bound_th itself when >= 1, else
// ceil(bound_th * image diagonal) (8 for 480x854).
int64_t boundary_tolerance(int64_t height, int64_t width, double bound_th = 0.008);
// F: boundary F-measure of two binary masks. Boundary pixels match when the other boundary
// is within boundary_tolerance() pixels (a disk). Empty boundaries: both empty -> 1; only one
// empty -> precision or recall is 0 and F = 0.
double boundary_measure(const LabelMap& prediction, const LabelMap& truth, double bound_th = 0.008);

// Mean, recall (fraction > 0.5) and decay (mean of the first minus the last of 4 temporal
// bins) of per-frame values, NaN-aware like the toolkit's db_statistics.
struct Statistics {
  double mean = 0, recall = 0, decay = 0;
};
Statistics db_statistics(const std::vector<double>& per_frame);

// Per-frame J and F of one object of one sequence; name is "<sequence>_<object id>".
struct ObjectScores {
  std::string name;
  std::vector<double> j, f;
};
// Scores one sequence in the semi-supervised protocol. truth: every annotated frame (255 =
// void, counted as background); predicted: the same number of frames, of which the first
// and last are not scored (and may be empty). Objects are 1..max id of the first truth frame;
// a predicted id above that is an error.
std::vector<ObjectScores> score_davis_sequence(const std::string& sequence, const std::vector<LabelMap>& truth,
                                               const std::vector<LabelMap>& predicted, double bound_th = 0.008);

// What davis2017-evaluation reports: per object J and F statistics, and their means over all
// objects of all sequences; J&F-Mean = (J-Mean + F-Mean) / 2.
struct DavisSummary {
  struct Object {
    std::string name;
    Statistics j, f;
  };
  std::vector<Object> objects;
  double jf_mean = 0, j_mean = 0, j_recall = 0, j_decay = 0, f_mean = 0, f_recall = 0, f_decay = 0;
};
DavisSummary summarize_davis(const std::vector<ObjectScores>& scores);
// Writes global_results-<split>.csv and per-sequence_results-<split>.csv into `folder` (created
// when missing), with the toolkit's columns and its 3-decimal format; each file is written
// through a temporary file.
void write_davis_csv(const DavisSummary& summary, const std::string& folder, const std::string& split = "val");
// The two tables as text, for printing.
std::string format_davis_summary(const DavisSummary& summary);

// ---- VIP ----

// Pixel counts[truth][predicted] over all frames; truth ids >= num_classes (255) are ignored.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t num_classes = 20);
  void add(const LabelMap& truth, const LabelMap& predicted);  // same size
  // Per class: diag / (truth + predicted - diag); NaN for a class absent from both.
  std::vector<double> iou() const;
  double mean_iou() const;  // NaN-mean of iou()
  int64_t num_classes() const { return num_classes_; }

 private:
  int64_t num_classes_;
  std::vector<int64_t> counts_;  // (num_classes, num_classes)
};

// ---- JHMDB ----

struct Keypoint {
  double x = 0, y = 0;  // pixels, 0-based
  bool valid = true;    // false: the prediction lost the joint (no heatmap mass)
};
using Pose = std::vector<Keypoint>;  // one per joint

// Percentage of correct keypoints. For each frame after the first and each joint the
// prediction found: d = |pred - truth| / (0.6 * diagonal of the truth joints' bounding box,
// over the joints found in that frame); PCK@a = 100 * #(d <= a) / # per joint, then the mean
// over joints.
class PckMeter {
 public:
  explicit PckMeter(int64_t num_joints = 15);
  // One video: predicted and truth poses per frame, pixels of the same image.
  void add_video(const std::vector<Pose>& predicted, const std::vector<Pose>& truth);
  std::vector<double> per_joint(double alpha) const;
  double pck(double alpha) const;  // mean of per_joint
  int64_t num_joints() const { return static_cast<int64_t>(distances_.size()); }

 private:
  std::vector<std::vector<double>> distances_;  // per joint, normalized distances
};

}  // namespace sm
