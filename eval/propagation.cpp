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
  int64_t width() const { return col1 - col0; }
  int64_t size() const { return (row1 - row0) * width(); }
  // This rectangle grown by `margin` cells on every side, clipped to a height x width grid.
  CellRect grown(int64_t margin, int64_t height, int64_t grid_width) const {
    return {std::max<int64_t>(0, row0 - margin), std::min(height, row1 + margin), std::max<int64_t>(0, col0 - margin),
            std::min(grid_width, col1 + margin)};
  }
};

// The rows of features (N, C) for the cells of `rect`, row by row: (rect.size(), C). Each grid
// row of the rectangle is one contiguous run of cells.
Tensor gather_cells(const Tensor& features, const CellRect& rect, int64_t width) {
  const int64_t channels = features.size(1), run = rect.width() * channels;
  Tensor out = empty({rect.size(), channels});  // (cells, C)
  const float* src = features.data<float>();
  float* dst = out.data<float>();
  for (int64_t r = rect.row0; r < rect.row1; ++r, dst += run)
    std::memcpy(dst, src + (r * width + rect.col0) * channels, run * sizeof(float));
  return out;
}

// The neighbourhood as row spans: a source dy rows away from its target counts when
// |dy| <= reach and |dx| <= span[|dy|].
struct RowSpans {
  int64_t reach = 0;
  std::vector<int64_t> span;  // indexed by |dy|
};

RowSpans neighborhood_spans(double radius, Neighborhood window) {
  const bool circle = window == Neighborhood::Circle;
  RowSpans spans;
  spans.reach = circle ? static_cast<int64_t>(std::ceil(radius)) - 1 : static_cast<int64_t>(std::floor(radius));
  spans.span.assign(std::max<int64_t>(spans.reach + 1, 0), spans.reach);
  for (int64_t dy = 0; circle && dy <= spans.reach; ++dy)
    while (static_cast<double>(dy * dy + spans.span[dy] * spans.span[dy]) >= radius * radius) --spans.span[dy];
  return spans;
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

// A frame of the context as step() sees it: features (N, C), labels (N, K), the queue slots it
// fills, and whether only the sources within a target's neighbourhood count.
struct Source {
  const Tensor* features;
  const Tensor* labels;
  int64_t copies;
  bool restricted;
};

// One step's work, tile by tile: the targets of a tile keep their top-k sources over the whole
// context, then each takes the softmax-weighted labels of its sources.
class TileStep {
 public:
  TileStep(const Tensor& target, const std::vector<Source>& sources, const PropagationOptions& options, int64_t height,
           int64_t width, float* out)
      : target_(target), sources_(sources), options_(options), spans_(neighborhood_spans(options.radius, options.window)),
        height_(height), width_(width), tile_cols_((width + options.tile - 1) / options.tile), out_(out) {}

  int64_t tiles() const { return (height_ + options_.tile - 1) / options_.tile * tile_cols_; }

  // The predicted labels of tile `index`'s targets, written to out (N, K).
  void run(int64_t index) const {
    const int64_t tile = options_.tile, row = index / tile_cols_, col = index % tile_cols_;
    const CellRect cells{row * tile, std::min(height_, (row + 1) * tile), col * tile, std::min(width_, (col + 1) * tile)};
    const int64_t k = options_.topk;
    Tensor queries = gather_cells(target_, cells, width_);  // (nt, C)
    std::vector<Candidate> slots(cells.size() * k);
    std::vector<TopK> best;
    best.reserve(cells.size());
    for (int64_t i = 0; i < cells.size(); ++i) best.emplace_back(slots.data() + i * k, k);

    for (const Source& source : sources_) offer_frame(source, queries, cells, best);

    const int64_t num_labels = sources_.front().labels->size(1);
    int64_t i = 0;
    for (int64_t ty = cells.row0; ty < cells.row1; ++ty)
      for (int64_t tx = cells.col0; tx < cells.col1; ++tx, ++i)
        best[i].weighted_label(options_.temperature, num_labels, out_ + (ty * width_ + tx) * num_labels);
  }

 private:
  // Offers the cells of one context frame to each target of the tile: every cell, or when
  // restricted only the window of cells the tile's neighbourhoods reach.
  void offer_frame(const Source& source, const Tensor& queries, const CellRect& cells, std::vector<TopK>& best) const {
    const CellRect window = source.restricted ? cells.grown(spans_.reach, height_, width_) : CellRect{0, height_, 0, width_};
    Tensor keys = source.restricted ? gather_cells(*source.features, window, width_) : *source.features;  // (ns, C)
    Tensor affinity = matmul(queries, keys.t()).contiguous();                                          // (nt, ns)
    const float* a = affinity.data<float>();
    int64_t i = 0;
    for (int64_t ty = cells.row0; ty < cells.row1; ++ty)
      for (int64_t tx = cells.col0; tx < cells.col1; ++tx, ++i)
        offer_window(source, a + i * window.size(), window, ty, tx, best[i]);
  }

  // Offers target (ty, tx) the cells of `window` within its neighbourhood (all of them when the
  // source is not restricted). `affinity` holds the target's affinity to each cell of the window.
  void offer_window(const Source& source, const float* affinity, const CellRect& window, int64_t ty, int64_t tx,
                    TopK& best) const {
    const float* labels = source.labels->data<float>();
    const int64_t num_labels = source.labels->size(1);
    for (int64_t sy = window.row0; sy < window.row1; ++sy) {
      int64_t col0 = window.col0, col1 = window.col1;
      if (source.restricted) {
        const int64_t dy = std::abs(sy - ty);
        if (dy > spans_.reach) continue;
        col0 = std::max(col0, tx - spans_.span[dy]);
        col1 = std::min(col1, tx + spans_.span[dy] + 1);
      }
      const float* row = affinity + (sy - window.row0) * window.width();
      for (int64_t sx = col0; sx < col1; ++sx)
        best.offer(row[sx - window.col0], labels + (sy * width_ + sx) * num_labels, source.copies);
    }
  }

  const Tensor& target_;  // (N, C) L2-normalized
  const std::vector<Source>& sources_;
  const PropagationOptions& options_;
  const RowSpans spans_;
  const int64_t height_, width_, tile_cols_;
  float* out_;  // (N, K)
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
  const int64_t n = height_ * width_, num_labels = first_.labels.size(1);
  Tensor target = l2_normalize(to_dtype(features, DType::F32)).reshape({n, -1}).contiguous();  // (N, C)
  Tensor predicted = zeros({n, num_labels});                                                  // (N, K)

  // The context, first frame first. A restricted source counts only inside the neighbourhood.
  const bool radius_on = options_.radius > 0;
  std::vector<Source> sources{
      {&first_.features, &first_.labels, first_.copies, radius_on && options_.restrict_first_frame}};
  for (const ContextFrame& frame : queue_) sources.push_back({&frame.features, &frame.labels, frame.copies, radius_on});

  const TileStep tiles(target, sources, options_, height_, width_, predicted.data<float>());
  parallel_for(tiles.tiles(), tiles.tiles() * kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) tiles.run(t);
  });

  remember(target, predicted);
  return predicted.reshape({height_, width_, num_labels});
}

void LabelPropagator::remember(const Tensor& features, const Tensor& labels) {
  if (options_.queue == 0) return;
  queue_.push_back({features, labels, 1});
  int64_t filled = 0;
  for (const ContextFrame& frame : queue_) filled += frame.copies;
  for (; filled > options_.queue; --filled)
    if (--queue_.front().copies == 0) queue_.pop_front();
}

}  // namespace sm
