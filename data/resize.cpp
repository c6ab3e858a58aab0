// Bilinear resampling, as a separable filter: every output column (then row) is a weighted
// sum of a few consecutive input columns (rows), its "taps". The weights are torch's, so
// results match torch.nn.functional.interpolate(mode="bilinear", align_corners=False) with
// or without antialias.
#include <algorithm>
#include <cmath>

#include "autograd/functions.h"
#include "data/image.h"
#include "tensor/antialiased_taps.h"

namespace sm {

namespace {

// Output sample = sum_k weights[k] * input[first + k].
struct Taps {
  int64_t first = 0;
  std::vector<float> weights;
};

// Plain bilinear (torch upsample_bilinear2d, align_corners=False): the two inputs around the
// source position (dst + 0.5) * in / out - 0.5, clamped to the edges. Computed in float like torch.
std::vector<Taps> bilinear_taps(int64_t in_size, int64_t out_size) {
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  std::vector<Taps> taps(out_size);
  for (int64_t i = 0; i < out_size; ++i) {
    const float source = std::max((static_cast<float>(i) + 0.5f) * scale - 0.5f, 0.0f);
    const int64_t left = std::min(static_cast<int64_t>(source), in_size - 1);
    const float right_weight = source - static_cast<float>(left);
    taps[i].first = left;
    taps[i].weights =
        left + 1 < in_size ? std::vector<float>{1.0f - right_weight, right_weight} : std::vector<float>{1.0f};
  }
  return taps;
}

// Antialiased bilinear (torch _upsample_bilinear2d_aa, PIL's BILINEAR): a triangle filter
// (tensor/antialiased_taps.h), stretched by the shrink factor.
std::vector<Taps> antialiased_bilinear_taps(int64_t in_size, int64_t out_size) {
  const double step = static_cast<double>(in_size) / static_cast<double>(out_size);
  const auto triangle = [](double x) { return std::max(0.0, 1.0 - std::abs(x)); };
  std::vector<Taps> taps;
  for (const AntialiasedTaps& t : antialiased_taps(in_size, out_size, step, 1.0, triangle))
    taps.push_back({t.first, std::vector<float>(t.weights.begin(), t.weights.end())});
  return taps;
}

// One channel plane: `source` points at element (0, 0) of the input window, whose element
// (y, x) is source[y * row_stride + x * column_stride]. Writes (rows.size(), columns.size())
// floats to `out`, multiplied by `value_scale`. Columns first, on only the rows needed.
template <typename T>
void resample_plane(const T* source, int64_t row_stride, int64_t column_stride, const std::vector<Taps>& rows,
                    const std::vector<Taps>& columns, float value_scale, float* out) {
  int64_t row_begin = rows.front().first, row_end = 0;
  for (const Taps& t : rows) {
    row_begin = std::min(row_begin, t.first);
    row_end = std::max(row_end, t.first + static_cast<int64_t>(t.weights.size()));
  }
  const int64_t out_w = static_cast<int64_t>(columns.size());
  std::vector<float> horizontal((row_end - row_begin) * out_w);  // (rows needed, out_w)
  for (int64_t y = row_begin; y < row_end; ++y) {
    const T* row = source + y * row_stride;
    float* dst = &horizontal[(y - row_begin) * out_w];
    for (int64_t x = 0; x < out_w; ++x) {
      const Taps& t = columns[x];
      float sum = 0;
      for (size_t k = 0; k < t.weights.size(); ++k)
        sum += t.weights[k] * static_cast<float>(row[(t.first + static_cast<int64_t>(k)) * column_stride]);
      dst[x] = sum;
    }
  }
  for (size_t y = 0; y < rows.size(); ++y) {
    const Taps& t = rows[y];
    float* dst = out + y * out_w;
    std::fill(dst, dst + out_w, 0.0f);
    for (size_t k = 0; k < t.weights.size(); ++k) {
      const float* src = &horizontal[(t.first + static_cast<int64_t>(k) - row_begin) * out_w];
      for (int64_t x = 0; x < out_w; ++x) dst[x] += t.weights[k] * src[x];
    }
    for (int64_t x = 0; x < out_w; ++x) dst[x] *= value_scale;
  }
}

void check_output_size(int64_t out_h, int64_t out_w, const std::string& op) {
  check(out_h > 0 && out_w > 0, op, "output size must be positive, got ", out_h, "x", out_w);
}

}  // namespace

Tensor resize_bilinear(const Tensor& chw, int64_t out_h, int64_t out_w) {
  check(chw.dim() >= 2 && chw.size(-1) > 0 && chw.size(-2) > 0, "resize_bilinear",
        "expected (..., H, W) with H, W > 0, got ", fmt(chw.shape()));
  check(is_floating(chw.dtype()), "resize_bilinear", "expected a floating tensor, got ", dtype_name(chw.dtype()));
  check_output_size(out_h, out_w, "resize_bilinear");
  const int64_t H = chw.size(-2), W = chw.size(-1), planes = chw.numel() / (H * W);
  const Tensor in = contiguous(to_dtype(chw.detach().to(Device::CPU), DType::F32));  // (..., H, W)
  Shape out_shape = chw.shape();
  out_shape[out_shape.size() - 2] = out_h;
  out_shape[out_shape.size() - 1] = out_w;
  Tensor out = empty(out_shape);  // (..., out_h, out_w)
  const std::vector<Taps> rows = bilinear_taps(H, out_h), columns = bilinear_taps(W, out_w);
  for (int64_t p = 0; p < planes; ++p)
    resample_plane(in.data<float>() + p * H * W, W, 1, rows, columns, 1.0f, out.data<float>() + p * out_h * out_w);
  return to_dtype(out, chw.dtype()).to(chw.device());
}

Tensor resized_crop(const Image& image, const CropBox& box, int64_t out_h, int64_t out_w, bool antialias, bool flip) {
  check(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 && box.top + box.height <= image.height &&
            box.left + box.width <= image.width,
        "resized_crop", "crop (top ", box.top, ", left ", box.left, ", ", box.height, "x", box.width,
        ") does not fit in a ", image.height, "x", image.width, " image");
  check_output_size(out_h, out_w, "resized_crop");
  const auto taps = antialias ? antialiased_bilinear_taps : bilinear_taps;
  const std::vector<Taps> rows = taps(box.height, out_h);
  std::vector<Taps> columns = taps(box.width, out_w);
  // Mirroring the output = reading the columns right to left.
  if (flip) std::reverse(columns.begin(), columns.end());
  const int64_t C = image.channels;
  Tensor out = empty({C, out_h, out_w});  // (C, out_h, out_w)
  const uint8_t* window = image.pixels.data() + (box.top * image.width + box.left) * C;
  for (int64_t c = 0; c < C; ++c)
    resample_plane(window + c, image.width * C, C, rows, columns, 1.0f / 255.0f, out.data<float>() + c * out_h * out_w);
  return out;
}

}  // namespace sm
