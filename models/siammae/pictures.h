// Pictures a person can look at, drawn by the project itself: text in a small bitmap font,
// line plots (the loss curve), labelled grids of frames, heat maps.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "data/image.h"

namespace sm {

using Rgb = std::array<uint8_t, 3>;

// A white RGB canvas.
Image blank_image(int64_t height, int64_t width, Rgb color = {255, 255, 255});
// Writes `text` with its top-left corner at (x, y) in stb_easy_font's small bitmap font
// (stb_easy_font.h, from libstb-dev), magnified `scale` times: about 7 cells tall, 4-7 wide per
// character. Characters other than printable ASCII are drawn as blanks; whatever falls outside
// the image is clipped.
void draw_text(Image& image, int64_t x, int64_t y, const std::string& text, int64_t scale = 1, Rgb color = {0, 0, 0});
int64_t text_width(const std::string& text, int64_t scale = 1);
// A straight line (Bresenham), clipped to the image.
void draw_line(Image& image, int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb color);

struct Curve {
  std::vector<double> x, y;
  Rgb color;
  std::string label;
};
// Curves on linear axes with ticks, tick labels, a title and a legend: (height, width, 3).
Image plot_curves(const std::vector<Curve>& curves, const std::string& title, const std::string& x_label,
                  int64_t height = 420, int64_t width = 720);

// Each pixel repeated factor x factor times.
Image upscale_nearest(const Image& image, int64_t factor);
// ImageNet-normalized images (B, 3, H, W) -> one Image each, denormalized and clamped.
std::vector<Image> to_images(const Tensor& normalized);
// Rows of equal-size tiles with a text label in front of each row (labels[i] for rows[i]).
Image labelled_grid(const std::vector<std::string>& labels, const std::vector<std::vector<Image>>& rows,
                    int64_t pad = 4);

// `values` (h, w) in [0, 1] as colours (dark blue -> yellow), resized to (height, width) and
// blended over `image` with weight `alpha`.
Image overlay_heatmap(const Image& image, const Tensor& values, double alpha = 0.6);
// A box outline (top, left, height, width) of `thickness` pixels.
void draw_box(Image& image, int64_t top, int64_t left, int64_t height, int64_t width, Rgb color, int64_t thickness = 2);

}  // namespace sm
