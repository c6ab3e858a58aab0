// Images: decoding and encoding (JPEG/PNG through stb_image, indexed PNG by our own codec),
// conversion to and from tensors, ImageNet normalization, bilinear resizing and picture grids.
//
// An Image holds 8-bit pixels row-major as (H, W, C), the layout of image files. Tensors use
// PyTorch's (C, H, W) float layout with values in [0, 1].
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/atomic_file.h"
#include "tensor/tensor.h"

namespace sm {

struct Image {  // 8-bit pixels, row-major (H, W, C)
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

using Palette = std::vector<std::array<uint8_t, 3>>;  // up to 256 RGB colours

struct IndexedImage {  // one palette index per pixel (DAVIS / VIP masks)
  int64_t height = 0, width = 0;
  std::vector<uint8_t> indices;  // row-major (H, W)
  Palette palette;               // empty for a greyscale file, whose grey value is the index
};

struct ImageSize {
  int64_t height = 0, width = 0;
};

// ---- files ----
// The most pixels an image file may declare before it is decoded. A small file can claim
// gigapixels (a 7.7 KB JPEG declaring 26000 x 26000 would take minutes and 6 GB), so every
// reader checks the header first. 50 million by default (8K video frames have 33 million);
// `siammae --max-pixels N` changes it.
constexpr int64_t kDefaultMaxImagePixels = 50'000'000;
int64_t max_image_pixels();
void set_max_image_pixels(int64_t pixels);
// Throws "[op] <name> is WxH pixels, more than the limit of N (--max-pixels)" when too large.
void check_pixel_count(int64_t width, int64_t height, const std::string& name, const std::string& op);

// Decodes a JPEG or PNG file to `channels` (1 grey, 3 RGB, 4 RGBA) channels. A missing,
// truncated or corrupt file, or one that is not a JPEG/PNG, throws an error naming the file.
Image read_image(const std::string& path, int channels = 3);
// The size of a JPEG or PNG file, read from its header only.
ImageSize read_image_size(const std::string& path);
// Writes 1 (grey), 3 (RGB) or 4 (RGBA) channel pixels through an AtomicFile.
void write_png(const std::string& path, const Image& image, Durability durability = Durability::kRenamed);
void write_jpeg(const std::string& path, const Image& image, int quality = 95);

// Indexed PNG (colour type 3, bit depth 1/2/4/8, or 8-bit greyscale, colour type 0): the
// stored palette indices themselves. stb_image would expand them to colours, so this has its
// own reader. Interlaced files and other colour types are rejected with a clear error.
IndexedImage read_indexed_png(const std::string& path);
IndexedImage decode_indexed_png(const std::vector<uint8_t>& bytes, const std::string& name);
// Writes colour type 3 with the image's palette, or greyscale (type 0) when the palette is
// empty. bit_depth 1/2/4 packs indices that fit; filter is the PNG row filter used for every
// row: 0 None (the PNG spec's advice for indexed images), 1 Sub, 2 Up, 3 Average, 4 Paeth.
struct IndexedPngOptions {
  int bit_depth = 8;
  int filter = 0;
};
void write_indexed_png(const std::string& path, const IndexedImage& image);
std::vector<uint8_t> encode_indexed_png(const IndexedImage& image, const IndexedPngOptions& options = {});
// CRC-32 (ISO 3309, as PNG chunks and zlib use it).
uint32_t png_crc32(const uint8_t* data, size_t size);

// The DAVIS 2017 palette (256 colours), as stored in the official annotation files.
Palette davis_palette();

// ---- tensors ----
Tensor image_to_tensor(const Image& image);  // (C, H, W) float32 in [0, 1]
Image tensor_to_image(const Tensor& chw);    // (C, H, W) float in [0, 1] (clamped), rounded to 8 bits

// ImageNet channel statistics (RGB), as every torchvision model uses them.
constexpr std::array<double, 3> kImagenetMean = {0.485, 0.456, 0.406};
constexpr std::array<double, 3> kImagenetStd = {0.229, 0.224, 0.225};
// (..., 3, H, W): (x - mean) / std per channel, and back. Differentiable, any device.
Tensor imagenet_normalize(const Tensor& x);
Tensor imagenet_denormalize(const Tensor& x);

// Bilinear resize of (..., H, W) to (..., out_h, out_w) with half-pixel centres, no
// antialiasing: torch's interpolate(mode="bilinear", align_corners=False) = cv2 INTER_LINEAR.
// Used for images and soft label maps. Computed in float32 on the CPU; returned in the
// input's dtype and device. No autograd.
Tensor resize_bilinear(const Tensor& chw, int64_t out_h, int64_t out_w);

// The rectangle [top, top + height) x [left, left + width) of an image.
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};
// Crops `box` from `image`, resizes it bilinearly to (C, out_h, out_w) float32 in [0, 1] and
// optionally mirrors it left-right. With antialias the bilinear filter widens when shrinking
// (torch antialias=True, PIL's resize), so downscaled frames do not alias.
Tensor resized_crop(const Image& image, const CropBox& box, int64_t out_h, int64_t out_w, bool antialias = true,
                    bool flip = false);

// Rows of equal-size tiles (same H, W, C) on a white background, `pad` pixels apart.
// Rows may hold different numbers of tiles.
Image make_grid(const std::vector<std::vector<Image>>& rows, int64_t pad = 2);

}  // namespace sm
