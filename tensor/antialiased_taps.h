// The taps of PIL's antialiased resampling, which torch's interpolate(..., antialias=True)
// follows for its bilinear and bicubic modes. Along one axis, output pixel o (centre
// (o + 0.5) * step in input pixels) reads the inputs within the filter's support around that
// centre; when shrinking (step > 1) the filter is stretched by step, so every input pixel
// contributes to some output. The weights are normalized to sum to 1.
//
// Shared by the data loader's resize (triangle filter, data/resize.cpp) and the position-table
// resize of imported ViTs (cubic filter, nn/transformer.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace sm {

// Output sample = sum_k weights[k] * input[first + k].
struct AntialiasedTaps {
  int64_t first = 0;
  std::vector<double> weights;
};

// Taps for in_size -> out_size pixels with `step` input pixels per output pixel (in / out, or
// 1 / scale_factor). filter(x) is the kernel at distance x, zero from `support` on.
template <typename Filter>
std::vector<AntialiasedTaps> antialiased_taps(int64_t in_size, int64_t out_size, double step, double support,
                                              Filter filter) {
  const double stretch = std::max(step, 1.0), reach = support * stretch, inverse_stretch = 1.0 / stretch;
  std::vector<AntialiasedTaps> taps(out_size);
  for (int64_t o = 0; o < out_size; ++o) {
    const double centre = (static_cast<double>(o) + 0.5) * step;
    const int64_t first = std::max<int64_t>(static_cast<int64_t>(centre - reach + 0.5), 0);
    const int64_t last = std::min<int64_t>(static_cast<int64_t>(centre + reach + 0.5), in_size);
    AntialiasedTaps& t = taps[o];
    t.first = first;
    double total = 0;
    for (int64_t i = first; i < last; ++i) {
      t.weights.push_back(filter((static_cast<double>(i) - centre + 0.5) * inverse_stretch));
      total += t.weights.back();
    }
    if (total != 0)
      for (double& w : t.weights) w /= total;
  }
  return taps;
}

}  // namespace sm
