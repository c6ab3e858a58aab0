// Image files through stb_image / stb_image_write, tensor conversion, normalization, grids.
//
// Debian's libstb-dev ships the headers and a compiled libstb that already holds the
// implementations, so no STB_*_IMPLEMENTATION is defined here (it would define them twice).
#include "data/image.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>

#include "autograd/functions.h"
#include "data/files.h"

namespace sm {

// ---- files ----

static std::atomic<int64_t> g_max_image_pixels{kDefaultMaxImagePixels};

int64_t max_image_pixels() { return g_max_image_pixels; }

void set_max_image_pixels(int64_t pixels) {
  check(pixels > 0, "set_max_image_pixels", "the limit must be positive, got ", pixels);
  g_max_image_pixels = pixels;
}

void check_pixel_count(int64_t width, int64_t height, const std::string& name, const std::string& op) {
  int64_t pixels = 0;
  const bool fits = width > 0 && height > 0 && !__builtin_mul_overflow(width, height, &pixels);
  check(fits && pixels <= max_image_pixels(), op, name, " is ", width, "x", height,
        " pixels, more than the limit of ", max_image_pixels(), " (raise it with --max-pixels)");
}

static bool starts_with(const std::vector<uint8_t>& bytes, std::initializer_list<uint8_t> prefix) {
  return bytes.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), bytes.begin());
}

// The bytes of a JPEG or PNG file; anything else is refused by its signature, which gives a
// clearer message than the decoder's.
static std::vector<uint8_t> read_image_file(const std::string& path, const std::string& op) {
  std::vector<uint8_t> bytes = read_file(path, op);
  const bool jpeg = starts_with(bytes, {0xFF, 0xD8, 0xFF});
  const bool png = starts_with(bytes, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
  check(jpeg || png, op, path, " is not a JPEG or PNG file (", bytes.size(), " bytes)");
  check(bytes.size() <= INT_MAX, op, path, " is too large (", bytes.size(), " bytes)");
  return bytes;
}

[[noreturn]] static void fail_decode(const std::string& op, const std::string& path) {
  const char* reason = stbi_failure_reason();
  fail(op, "cannot decode ", path, " (", reason ? reason : "unknown error", "): the file is truncated or corrupt");
}

Image read_image(const std::string& path, int channels) {
  check(channels == 1 || channels == 3 || channels == 4, "read_image", "channels must be 1, 3 or 4, got ", channels);
  const std::vector<uint8_t> bytes = read_image_file(path, "read_image");
  int width = 0, height = 0, in_file = 0;
  // The size the header declares, checked before anything is decoded.
  if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &in_file))
    fail_decode("read_image", path);
  check_pixel_count(width, height, path, "read_image");
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &in_file, channels),
      stbi_image_free);
  if (!pixels) fail_decode("read_image", path);
  Image image{height, width, channels, {}};
  image.pixels.assign(pixels.get(), pixels.get() + static_cast<size_t>(height) * width * channels);
  return image;
}

ImageSize read_image_size(const std::string& path) {
  const std::vector<uint8_t> bytes = read_image_file(path, "read_image_size");
  int width = 0, height = 0, in_file = 0;
  if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &in_file))
    fail_decode("read_image_size", path);
  return {height, width};
}

static void check_image(const Image& image, const std::string& op) {
  check(image.channels >= 1 && image.channels <= 4, op, "images have 1 to 4 channels, got ", image.channels);
  check(image.height > 0 && image.width > 0, op, "empty image (", image.height, "x", image.width, ")");
  check(static_cast<int64_t>(image.pixels.size()) == image.height * image.width * image.channels, op, "a ",
        image.height, "x", image.width, "x", image.channels, " image needs ",
        image.height * image.width * image.channels, " bytes, has ", image.pixels.size());
}

static void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* bytes = static_cast<const uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}

// Encodes with `encode(callback, context, w, h, c, pixels)` (an stb_image_write function)
// and writes the result crash-safely.
template <typename Encode>
static void write_encoded(const std::string& path, const Image& image, const std::string& op, Encode encode,
                          Durability durability = Durability::kRenamed) {
  check_image(image, op);
  std::vector<uint8_t> bytes;
  const int ok = encode(append_bytes, &bytes, static_cast<int>(image.width), static_cast<int>(image.height),
                        static_cast<int>(image.channels), image.pixels.data());
  check(ok != 0, op, "cannot encode ", path);
  write_file_atomically(path, bytes, op, durability);
}

void write_png(const std::string& path, const Image& image, Durability durability) {
  write_encoded(
      path, image, "write_png",
      [&](stbi_write_func* f, void* ctx, int w, int h, int c, const void* p) {
        return stbi_write_png_to_func(f, ctx, w, h, c, p, w * c);
      },
      durability);
}

void write_jpeg(const std::string& path, const Image& image, int quality) {
  check(quality >= 1 && quality <= 100, "write_jpeg", "quality must be in [1, 100], got ", quality);
  write_encoded(path, image, "write_jpeg", [&](stbi_write_func* f, void* ctx, int w, int h, int c, const void* p) {
    return stbi_write_jpg_to_func(f, ctx, w, h, c, p, quality);
  });
}

// ---- tensors ----

Tensor image_to_tensor(const Image& image) {
  check_image(image, "image_to_tensor");
  const int64_t C = image.channels, H = image.height, W = image.width;
  Tensor chw = empty({C, H, W});  // (C, H, W)
  float* out = chw.data<float>();
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < C; ++c) out[(c * H + y) * W + x] = image.pixels[(y * W + x) * C + c] / 255.0f;
  return chw;
}

Image tensor_to_image(const Tensor& chw) {
  check(chw.dim() == 3 && chw.size(0) >= 1 && chw.size(0) <= 4, "tensor_to_image",
        "expected (C, H, W) with C in 1..4, got ", fmt(chw.shape()));
  const int64_t C = chw.size(0), H = chw.size(1), W = chw.size(2);
  const std::vector<float> values = chw.detach().to_vector<float>();  // (C, H, W) row-major
  Image image{H, W, C, std::vector<uint8_t>(values.size())};
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i) {
      const float v = std::clamp(values[c * H * W + i], 0.0f, 1.0f);
      image.pixels[i * C + c] = static_cast<uint8_t>(std::lround(v * 255.0f));
    }
  return image;
}

// A per-channel constant shaped (3, 1, 1), in x's dtype and device, for broadcasting.
static Tensor channel_constant(const std::array<double, 3>& values, const Tensor& x, const std::string& op) {
  check(x.dim() >= 3 && x.size(-3) == 3, op, "expected (..., 3, H, W), got ", fmt(x.shape()));
  return from_vector(std::vector<double>(values.begin(), values.end()), {3, 1, 1},
                     {.dtype = x.dtype(), .device = x.device()});
}

Tensor imagenet_normalize(const Tensor& x) {
  return (x - channel_constant(kImagenetMean, x, "imagenet_normalize")) /
         channel_constant(kImagenetStd, x, "imagenet_normalize");
}

Tensor imagenet_denormalize(const Tensor& x) {
  return x * channel_constant(kImagenetStd, x, "imagenet_denormalize") +
         channel_constant(kImagenetMean, x, "imagenet_denormalize");
}

// ---- pictures ----

Image make_grid(const std::vector<std::vector<Image>>& rows, int64_t pad) {
  check(pad >= 0, "make_grid", "pad must be >= 0, got ", pad);
  const Image* first = nullptr;
  size_t columns = 0;
  for (const auto& row : rows) {
    columns = std::max(columns, row.size());
    if (!first && !row.empty()) first = &row.front();
  }
  check(first != nullptr, "make_grid", "no tiles");
  const int64_t h = first->height, w = first->width, C = first->channels;
  const int64_t n_rows = static_cast<int64_t>(rows.size()), n_cols = static_cast<int64_t>(columns);
  Image grid{pad + n_rows * (h + pad), pad + n_cols * (w + pad), C, {}};
  grid.pixels.assign(grid.height * grid.width * C, 255);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t col = 0; col < static_cast<int64_t>(rows[r].size()); ++col) {
      const Image& tile = rows[r][col];
      check_image(tile, "make_grid");
      check(tile.height == h && tile.width == w && tile.channels == C, "make_grid", "tile (", r, ", ", col, ") is ",
            tile.height, "x", tile.width, "x", tile.channels, ", the first tile is ", h, "x", w, "x", C);
      const int64_t top = pad + r * (h + pad), left = pad + col * (w + pad);
      for (int64_t y = 0; y < h; ++y)
        std::memcpy(&grid.pixels[((top + y) * grid.width + left) * C], &tile.pixels[y * w * C], w * C);
    }
  return grid;
}

}  // namespace sm
