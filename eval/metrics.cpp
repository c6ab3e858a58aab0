#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "data/files.h"
#include "tensor/error.h"

namespace sm {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_same_size(const LabelMap& a, const LabelMap& b, const char* op) {
  check(a.height == b.height && a.width == b.width, op, "label maps differ in size: ", a.height, "x", a.width,
        " and ", b.height, "x", b.width);
}

// NumPy's nanmean: the mean of the non-NaN values, NaN when there are none.
double nan_mean(const std::vector<double>& values) {
  double total = 0;
  int64_t count = 0;
  for (double v : values)
    if (!std::isnan(v)) total += v, ++count;
  return count ? total / count : kNaN;
}

double mean(const std::vector<double>& values) {
  double total = 0;
  for (double v : values) total += v;
  return values.empty() ? kNaN : total / values.size();
}

int64_t count_ones(const LabelMap& mask) { return std::count(mask.labels.begin(), mask.labels.end(), 1); }

// |a & b| for binary masks.
int64_t count_both(const LabelMap& a, const LabelMap& b) {
  int64_t n = 0;
  for (size_t i = 0; i < a.labels.size(); ++i) n += a.labels[i] && b.labels[i];
  return n;
}

// pandas' float_format="%.3f"; NaN is written as an empty field.
std::string csv_number(double v) {
  if (std::isnan(v)) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", v);
  return text;
}

}  // namespace

LabelMap::LabelMap(int64_t height, int64_t width, uint8_t fill)
    : height(height), width(width), labels(height * width, fill) {}

uint8_t LabelMap::max_label() const { return labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()); }

LabelMap binary_mask(const LabelMap& map, uint8_t id) {
  LabelMap out(map.height, map.width);
  for (size_t i = 0; i < map.labels.size(); ++i) out.labels[i] = map.labels[i] == id;
  return out;
}

LabelMap resize_nearest(const LabelMap& map, int64_t height, int64_t width) {
  LabelMap out(height, width);
  for (int64_t y = 0; y < height; ++y) {
    const int64_t sy = std::min(map.height - 1, (2 * y + 1) * map.height / (2 * height));
    for (int64_t x = 0; x < width; ++x)
      out.at(y, x) = map.at(sy, std::min(map.width - 1, (2 * x + 1) * map.width / (2 * width)));
  }
  return out;
}

// ---- DAVIS ----

double region_similarity(const LabelMap& prediction, const LabelMap& truth) {
  check_same_size(prediction, truth, "region_similarity");
  const int64_t inter = count_both(prediction, truth);
  const int64_t uni = count_ones(prediction) + count_ones(truth) - inter;
  return uni == 0 ? 1.0 : static_cast<double>(inter) / uni;
}

LabelMap boundary_map(const LabelMap& mask) {
  const int64_t h = mask.height, w = mask.width;
  LabelMap b(h, w);
  auto seg = [&](int64_t y, int64_t x) { return y < h && x < w && mask.at(y, x) != 0; };  // 0 beyond the image
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const bool s = seg(y, x);
      const bool east = s != seg(y, x + 1), south = s != seg(y + 1, x), south_east = s != seg(y + 1, x + 1);
      if (y == h - 1 && x == w - 1) b.at(y, x) = 0;
      else if (y == h - 1) b.at(y, x) = east;
      else if (x == w - 1) b.at(y, x) = south;
      else b.at(y, x) = east || south || south_east;
    }
  }
  return b;
}

LabelMap dilate_disk(const LabelMap& mask, int64_t radius) {
  const int64_t h = mask.height, w = mask.width;
  LabelMap out(h, w);
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      if (!mask.at(y, x)) continue;
      for (int64_t dy = -radius; dy <= radius; ++dy) {
        if (y + dy < 0 || y + dy >= h) continue;
        const auto dx_max = static_cast<int64_t>(std::sqrt(static_cast<double>(radius * radius - dy * dy)));
        for (int64_t dx = std::max(-dx_max, -x); dx <= dx_max && x + dx < w; ++dx) out.at(y + dy, x + dx) = 1;
      }
    }
  }
  return out;
}

int64_t boundary_tolerance(int64_t height, int64_t width, double bound_th) {
  if (bound_th >= 1) return static_cast<int64_t>(bound_th);
  return static_cast<int64_t>(std::ceil(bound_th * std::hypot(static_cast<double>(height), static_cast<double>(width))));
}

double boundary_measure(const LabelMap& prediction, const LabelMap& truth, double bound_th) {
  check_same_size(prediction, truth, "boundary_measure");
  const int64_t radius = boundary_tolerance(prediction.height, prediction.width, bound_th);
  const LabelMap fg_boundary = boundary_map(prediction), gt_boundary = boundary_map(truth);
  const int64_t n_fg = count_ones(fg_boundary), n_gt = count_ones(gt_boundary);
  double precision, recall;
  if (n_fg == 0 || n_gt == 0) {
    precision = n_fg == 0 ? 1 : 0;
    recall = n_gt == 0 ? 1 : 0;
  } else {
    precision = static_cast<double>(count_both(fg_boundary, dilate_disk(gt_boundary, radius))) / n_fg;
    recall = static_cast<double>(count_both(gt_boundary, dilate_disk(fg_boundary, radius))) / n_gt;
  }
  return precision + recall == 0 ? 0.0 : 2 * precision * recall / (precision + recall);
}

Statistics db_statistics(const std::vector<double>& per_frame) {
  Statistics s;
  s.mean = nan_mean(per_frame);
  std::vector<double> above(per_frame.size());
  for (size_t i = 0; i < per_frame.size(); ++i) above[i] = per_frame[i] > 0.5;  // NaN > 0.5 is false, as in NumPy
  s.recall = nan_mean(above);
  // Bin edges: round(linspace(1, n, 5) + 1e-10) - 1; bin i spans edges i..i+1 inclusive.
  const auto n = static_cast<int64_t>(per_frame.size());
  if (n == 0) {
    s.decay = kNaN;
    return s;
  }
  int64_t edges[5];
  for (int i = 0; i < 5; ++i) edges[i] = static_cast<int64_t>(std::round(1 + i * (n - 1) / 4.0 + 1e-10)) - 1;
  auto bin = [&](int i) {
    return std::vector<double>(per_frame.begin() + edges[i], per_frame.begin() + std::min(n, edges[i + 1] + 1));
  };
  s.decay = nan_mean(bin(0)) - nan_mean(bin(3));
  return s;
}

std::vector<ObjectScores> score_davis_sequence(const std::string& sequence, const std::vector<LabelMap>& truth,
                                               const std::vector<LabelMap>& predicted, double bound_th) {
  check(!truth.empty() && truth.size() == predicted.size(), "davis", sequence, ": ", truth.size(),
        " annotated frames but ", predicted.size(), " predicted");
  // Void (255) counts as background in the semi-supervised protocol.
  auto without_void = [](LabelMap map) {
    for (uint8_t& v : map.labels) v = v == 255 ? 0 : v;
    return map;
  };
  const int num_objects = without_void(truth.front()).max_label();
  std::vector<ObjectScores> scores(num_objects);
  for (int id = 1; id <= num_objects; ++id) scores[id - 1].name = sequence + "_" + std::to_string(id);
  for (size_t t = 1; t + 1 < truth.size(); ++t) {
    const LabelMap gt = without_void(truth[t]);
    check(predicted[t].max_label() <= num_objects, "davis", sequence, " frame ", t, ": predicted object id ",
          int(predicted[t].max_label()), " but the sequence has ", num_objects, " objects");
    for (int id = 1; id <= num_objects; ++id) {
      const LabelMap p = binary_mask(predicted[t], id), g = binary_mask(gt, id);
      scores[id - 1].j.push_back(region_similarity(p, g));
      scores[id - 1].f.push_back(boundary_measure(p, g, bound_th));
    }
  }
  return scores;
}

DavisSummary summarize_davis(const std::vector<ObjectScores>& scores) {
  DavisSummary summary;
  std::vector<double> jm, jr, jd, fm, fr, fd;
  for (const ObjectScores& object : scores) {
    const DavisSummary::Object o{object.name, db_statistics(object.j), db_statistics(object.f)};
    summary.objects.push_back(o);
    jm.push_back(o.j.mean), jr.push_back(o.j.recall), jd.push_back(o.j.decay);
    fm.push_back(o.f.mean), fr.push_back(o.f.recall), fd.push_back(o.f.decay);
  }
  summary.j_mean = mean(jm), summary.j_recall = mean(jr), summary.j_decay = mean(jd);
  summary.f_mean = mean(fm), summary.f_recall = mean(fr), summary.f_decay = mean(fd);
  summary.jf_mean = (summary.j_mean + summary.f_mean) / 2;
  return summary;
}

void write_davis_csv(const DavisSummary& summary, const std::string& folder, const std::string& split) {
  std::ostringstream global;
  global << "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n";
  const double values[] = {summary.jf_mean, summary.j_mean,   summary.j_recall, summary.j_decay,
                           summary.f_mean,  summary.f_recall, summary.f_decay};
  for (size_t i = 0; i < std::size(values); ++i) global << (i ? "," : "") << csv_number(values[i]);
  global << "\n";
  std::ostringstream per_sequence;
  per_sequence << "Sequence,J-Mean,F-Mean\n";
  for (const DavisSummary::Object& o : summary.objects)
    per_sequence << o.name << "," << csv_number(o.j.mean) << "," << csv_number(o.f.mean) << "\n";
  auto write = [&](const std::string& name, const std::string& text) {
    write_file_atomically(folder + "/" + name + "-" + split + ".csv", text, "davis");
  };
  write("global_results", global.str());
  write("per-sequence_results", per_sequence.str());
}

std::string format_davis_summary(const DavisSummary& summary) {
  std::ostringstream text;
  char line[256];
  text << "J&F-Mean  J-Mean  J-Recall  J-Decay  F-Mean  F-Recall  F-Decay\n";
  std::snprintf(line, sizeof line, "%8.3f  %6.3f  %8.3f  %7.3f  %6.3f  %8.3f  %7.3f\n", summary.jf_mean,
                summary.j_mean, summary.j_recall, summary.j_decay, summary.f_mean, summary.f_recall, summary.f_decay);
  text << line << "\nSequence                  J-Mean  F-Mean\n";
  for (const DavisSummary::Object& o : summary.objects) {
    std::snprintf(line, sizeof line, "%-24s  %6.3f  %6.3f\n", o.name.c_str(), o.j.mean, o.f.mean);
    text << line;
  }
  return text.str();
}

// ---- VIP ----

ConfusionMatrix::ConfusionMatrix(int64_t num_classes)
    : num_classes_(num_classes), counts_(num_classes * num_classes, 0) {
  check(num_classes > 0 && num_classes <= 256, "vip", "number of classes must be in 1..256, got ", num_classes);
}

void ConfusionMatrix::add(const LabelMap& truth, const LabelMap& predicted) {
  check_same_size(truth, predicted, "vip");
  for (size_t i = 0; i < truth.labels.size(); ++i) {
    const int64_t gt = truth.labels[i], pred = predicted.labels[i];
    if (gt >= num_classes_) continue;
    check(pred < num_classes_, "vip", "predicted class ", pred, " but there are only ", num_classes_, " classes");
    ++counts_[gt * num_classes_ + pred];
  }
}

std::vector<double> ConfusionMatrix::iou() const {
  std::vector<double> out(num_classes_);
  for (int64_t c = 0; c < num_classes_; ++c) {
    int64_t truth = 0, predicted = 0;
    for (int64_t o = 0; o < num_classes_; ++o) truth += counts_[c * num_classes_ + o], predicted += counts_[o * num_classes_ + c];
    const int64_t diag = counts_[c * num_classes_ + c], uni = truth + predicted - diag;
    out[c] = uni == 0 ? kNaN : static_cast<double>(diag) / uni;
  }
  return out;
}

double ConfusionMatrix::mean_iou() const { return nan_mean(iou()); }

// ---- JHMDB ----

PckMeter::PckMeter(int64_t num_joints) : distances_(num_joints) {}

void PckMeter::add_video(const std::vector<Pose>& predicted, const std::vector<Pose>& truth) {
  check(predicted.size() == truth.size(), "pck", predicted.size(), " predicted frames but ", truth.size(),
        " annotated");
  const auto joints = static_cast<size_t>(num_joints());
  for (size_t k = 0; k < truth.size(); ++k) {
    check(predicted[k].size() == joints && truth[k].size() == joints, "pck", "frame ", k, ": expected ", joints,
          " joints, got ", predicted[k].size(), " predicted and ", truth[k].size(), " annotated");
    // The box spans the truth joints that the prediction found (as eval_pck.py does).
    double min_x = 1e6, min_y = 1e6, max_x = -1, max_y = -1;
    for (size_t j = 0; j < joints; ++j) {
      if (!predicted[k][j].valid) continue;
      min_x = std::min(min_x, truth[k][j].x), max_x = std::max(max_x, truth[k][j].x);
      min_y = std::min(min_y, truth[k][j].y), max_y = std::max(max_y, truth[k][j].y);
    }
    const double box = 0.6 * std::hypot(max_x - min_x, max_y - min_y);
    if (k == 0) continue;  // the first frame is given
    for (size_t j = 0; j < joints; ++j) {
      if (!predicted[k][j].valid) continue;
      const double d = std::hypot(predicted[k][j].x - truth[k][j].x, predicted[k][j].y - truth[k][j].y);
      distances_[j].push_back(d / box);
    }
  }
}

std::vector<double> PckMeter::per_joint(double alpha) const {
  std::vector<double> out;
  for (const std::vector<double>& d : distances_) {
    const auto correct = std::count_if(d.begin(), d.end(), [&](double v) { return v <= alpha; });
    out.push_back(d.empty() ? kNaN : 100.0 * correct / d.size());
  }
  return out;
}

double PckMeter::pck(double alpha) const { return mean(per_joint(alpha)); }

}  // namespace sm
