#include "eval/propagation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "autograd/functions.h"
#include "tensor/parallel.h"

namespace sm {

Tensor l2_normalize(const Tensor& x) {
  Tensor norm = sqrt(sum(x * x, {-1}, /*keepdim=*/true));  // (..., 1)
  return x / clamp(norm, 1e-12, std::numeric_limits<double>::infinity());
}

namespace {

// A rectangle of grid cells: rows [row0, row1), columns [col0, col1).
struct CellRect {
  int64_t row0, row1, col0, col1;
  int64_t size() const { return (row1 - row0) * (col1 - col0); }
};

// The rows of features (N, C) for the cells of `rect`, row by row: (rect.size(), C). Each grid
// row of the rectangle is one contiguous run of cells.
Tensor gather_cells(const Tensor& features, const CellRect& rect, int64_t width) {
  const int64_t channels = features.size(1), run = (rect.col1 - rect.col0) * channels;
  Tensor out = empty({rect.size(), channels});  // (cells, C)
  const float* src = features.data<float>();
  float* dst = out.data<float>();
  for (int64_t r = rect.row0; r < rect.row1; ++r, dst += run)
    std::memcpy(dst, src + (r * width + rect.col0) * channels, run * sizeof(float));
  return out;
}

// The k best (affinity, source) pairs seen so far for one target, best first.
struct Candidate {
  float affinity;
  const float* label;  // the source's label vector (K)
};

class TopK {
 public:
  TopK(Candidate* slots, int64_t k) : slots_(slots), k_(k) {}
  // Offers a source that fills `copies` queue slots: each copy competes as its own candidate.
  void offer(float affinity, const float* label, int64_t copies) {
    for (int64_t c = 0; c < copies; ++c) {
      if (count_ == k_ && affinity <= slots_[k_ - 1].affinity) return;
      int64_t i = count_ < k_ ? count_++ : k_ - 1;
      for (; i > 0 && slots_[i - 1].affinity < affinity; --i) slots_[i] = slots_[i - 1];
      slots_[i] = {affinity, label};
    }
  }
  // out (K) = sum of the kept labels weighted by softmax(affinity / temperature).
  void weighted_label(double temperature, int64_t num_labels, float* out) const {
    std::fill(out, out + num_labels, 0.0f);
    if (count_ == 0) return;
    double total = 0;
    std::vector<double> weights(count_);
    for (int64_t i = 0; i < count_; ++i) {
      weights[i] = std::exp((slots_[i].affinity - slots_[0].affinity) / temperature);  // max first: no overflow
      total += weights[i];
    }
    for (int64_t i = 0; i < count_; ++i)
      for (int64_t k = 0; k < num_labels; ++k) out[k] += static_cast<float>(weights[i] / total) * slots_[i].label[k];
  }

 private:
  Candidate* slots_;
  int64_t k_, count_ = 0;
};

}  // namespace

LabelPropagator::LabelPropagator(PropagationOptions options) : options_(options) {
  check(options_.topk > 0 && options_.queue >= 0 && options_.temperature > 0 && options_.tile > 0, "propagation",
        "needs topk > 0, queue >= 0, temperature > 0 and tile > 0; got topk ", options_.topk, ", queue ",
        options_.queue, ", temperature ", options_.temperature, ", tile ", options_.tile);
}

void LabelPropagator::start(const Tensor& features, const Tensor& labels) {
  check(features.dim() == 3 && labels.dim() == 3 && features.size(0) == labels.size(0) &&
            features.size(1) == labels.size(1),
        "propagation", "first frame: features (h, w, C) and labels (h, w, K) must share the grid, got ",
        shape_str(features.shape()), " and ", shape_str(labels.shape()));
  NoGradGuard no_grad;
  height_ = features.size(0);
  width_ = features.size(1);
  const int64_t n = height_ * width_;
  first_ = {l2_normalize(to_dtype(features, DType::F32)).reshape({n, -1}).contiguous(),  // (N, C)
            to_dtype(labels, DType::F32).reshape({n, -1}).contiguous(),                 // (N, K)
            1};
  queue_.clear();
  if (options_.pad_queue && options_.queue > 0) queue_.push_back({first_.features, first_.labels, options_.queue});
}

Tensor LabelPropagator::step(const Tensor& features) {
  check(first_.features.defined(), "propagation", "step() before start()");
  check(features.dim() == 3 && features.size(0) == height_ && features.size(1) == width_ &&
            features.size(2) == first_.features.size(1),
        "propagation", "frame features ", shape_str(features.shape()), " do not match the first frame's (", height_,
        ", ", width_, ", ", first_.features.size(1), ")");
  NoGradGuard no_grad;
  const int64_t n = height_ * width_, num_labels = first_.labels.size(1), k = options_.topk;
  Tensor target = l2_normalize(to_dtype(features, DType::F32)).reshape({n, -1}).contiguous();  // (N, C)
  Tensor predicted = zeros({n, num_labels});                                                  // (N, K)

  // The context, first frame first. A restricted source counts only inside the neighbourhood.
  struct Source {
    const ContextFrame* frame;
    bool restricted;
  };
  const bool radius_on = options_.radius > 0;
  std::vector<Source> sources{{&first_, radius_on && options_.restrict_first_frame}};
  for (const ContextFrame& frame : queue_) sources.push_back({&frame, radius_on});

  // Neighbourhood as row spans: a source dy rows away counts when |dx| <= span[|dy|], |dy| <= reach.
  const double r = options_.radius;
  const bool circle = options_.window == Neighborhood::Circle;
  const int64_t reach = circle ? static_cast<int64_t>(std::ceil(r)) - 1 : static_cast<int64_t>(std::floor(r));
  std::vector<int64_t> span(std::max<int64_t>(reach + 1, 0), reach);
  for (int64_t dy = 0; circle && dy <= reach; ++dy)
    while (static_cast<double>(dy * dy + span[dy] * span[dy]) >= r * r) --span[dy];

  const int64_t tile = options_.tile;
  const int64_t tile_rows = (height_ + tile - 1) / tile, tile_cols = (width_ + tile - 1) / tile;
  const CellRect grid{0, height_, 0, width_};
  float* out = predicted.data<float>();

  auto run_tile = [&](int64_t tile_index) {
    const int64_t tr = tile_index / tile_cols, tc = tile_index % tile_cols;
    const CellRect cells{tr * tile, std::min(height_, (tr + 1) * tile), tc * tile, std::min(width_, (tc + 1) * tile)};
    const int64_t nt = cells.size();
    Tensor queries = gather_cells(target, cells, width_);  // (nt, C)
    std::vector<Candidate> slots(nt * k);
    std::vector<TopK> best;
    best.reserve(nt);
    for (int64_t i = 0; i < nt; ++i) best.emplace_back(slots.data() + i * k, k);

    for (const Source& source : sources) {
      const CellRect window = source.restricted ? CellRect{std::max<int64_t>(0, cells.row0 - reach),
                                                           std::min(height_, cells.row1 + reach),
                                                           std::max<int64_t>(0, cells.col0 - reach),
                                                           std::min(width_, cells.col1 + reach)}
                                                : grid;
      Tensor keys = source.restricted ? gather_cells(source.frame->features, window, width_)
                                      : source.frame->features;  // (ns, C)
      Tensor affinity = matmul(queries, keys.t()).contiguous();   // (nt, ns)
      const float* a = affinity.data<float>();
      const float* labels = source.frame->labels.data<float>();
      const int64_t window_width = window.col1 - window.col0;
      int64_t i = 0;
      for (int64_t ty = cells.row0; ty < cells.row1; ++ty) {
        for (int64_t tx = cells.col0; tx < cells.col1; ++tx, ++i) {
          for (int64_t sy = window.row0; sy < window.row1; ++sy) {
            int64_t col0 = window.col0, col1 = window.col1;
            if (source.restricted) {
              const int64_t dy = std::abs(sy - ty);
              if (dy > reach) continue;
              col0 = std::max(col0, tx - span[dy]);
              col1 = std::min(col1, tx + span[dy] + 1);
            }
            const float* row = a + i * window.size() + (sy - window.row0) * window_width;
            for (int64_t sx = col0; sx < col1; ++sx)
              best[i].offer(row[sx - window.col0], labels + (sy * width_ + sx) * num_labels, source.frame->copies);
          }
        }
      }
    }
    int64_t i = 0;
    for (int64_t ty = cells.row0; ty < cells.row1; ++ty)
      for (int64_t tx = cells.col0; tx < cells.col1; ++tx, ++i)
        best[i].weighted_label(options_.temperature, num_labels, out + (ty * width_ + tx) * num_labels);
  };
  const int64_t tiles = tile_rows * tile_cols;
  parallel_for(tiles, tiles * kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) run_tile(t);
  });

  // The new frame joins the queue; the oldest slot leaves once the queue is full.
  if (options_.queue > 0) {
    queue_.push_back({target, predicted, 1});
    int64_t filled = 0;
    for (const ContextFrame& frame : queue_) filled += frame.copies;
    for (; filled > options_.queue; --filled)
      if (--queue_.front().copies == 0) queue_.pop_front();
  }
  return predicted.reshape({height_, width_, num_labels});
}

}  // namespace sm
