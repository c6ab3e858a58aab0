#include "models/siammae/pictures.h"

#include <stb/stb_easy_font.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sm {

namespace {

// The text as stb_easy_font draws it: printable ASCII, anything else a blank (the font
// indexes its tables by character, so others must not reach it).
std::string printable(const std::string& text) {
  std::string out = text;
  for (char& c : out)
    if (c < 32 || c > 126) c = ' ';
  return out;
}

void set_pixel(Image& image, int64_t x, int64_t y, Rgb color) {
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
  uint8_t* p = &image.pixels[(y * image.width + x) * image.channels];
  for (int c = 0; c < 3; ++c) p[c] = color[c];
}

void fill_rect(Image& image, int64_t x, int64_t y, int64_t w, int64_t h, Rgb color) {
  for (int64_t dy = 0; dy < h; ++dy)
    for (int64_t dx = 0; dx < w; ++dx) set_pixel(image, x + dx, y + dy, color);
}

// Tick values at a "nice" step (1, 2 or 5 times a power of ten) covering [low, high].
std::vector<double> nice_ticks(double low, double high, int target = 5) {
  const double raw = (high - low) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * magnitude) {
      step = m * magnitude;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(low / step) * step; t <= high + 1e-9 * step; t += step) ticks.push_back(t);
  return ticks;
}

std::string number_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.4g", std::abs(value) < 1e-12 ? 0.0 : value);
  return buffer;
}

}  // namespace

Image blank_image(int64_t height, int64_t width, Rgb color) {
  Image image{height, width, 3, std::vector<uint8_t>(height * width * 3)};
  for (int64_t i = 0; i < height * width; ++i)
    for (int c = 0; c < 3; ++c) image.pixels[i * 3 + c] = color[c];
  return image;
}

int64_t text_width(const std::string& text, int64_t scale) {
  std::string chars = printable(text);
  return stb_easy_font_width(chars.data()) * scale;
}

void draw_text(Image& image, int64_t x, int64_t y, const std::string& text, int64_t scale, Rgb color) {
  // stb_easy_font builds each character from axis-aligned unit segments, returned as quads of
  // four vertices (x, y, z as floats, then 4 colour bytes); each quad is one filled rectangle.
  struct Vertex {
    float x, y, z;
    uint8_t rgba[4];
  };
  std::string chars = printable(text);
  std::vector<Vertex> quads(4 * 64 * (chars.size() + 1));  // at most ~17 segments per character
  const int count = stb_easy_font_print(0, 0, chars.data(), nullptr, quads.data(),
                                        static_cast<int>(quads.size() * sizeof(Vertex)));
  for (int q = 0; q < count; ++q) {
    const Vertex* v = &quads[4 * q];  // corners: top-left, top-right, bottom-right, bottom-left
    const auto left = static_cast<int64_t>(v[0].x), top = static_cast<int64_t>(v[0].y);
    const auto width = static_cast<int64_t>(v[2].x) - left, height = static_cast<int64_t>(v[2].y) - top;
    fill_rect(image, x + left * scale, y + top * scale, width * scale, height * scale, color);
  }
}

void draw_line(Image& image, int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb color) {
  const int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int64_t sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int64_t error = dx + dy;
  while (true) {
    set_pixel(image, x0, y0, color);
    if (x0 == x1 && y0 == y1) break;
    const int64_t e2 = 2 * error;
    if (e2 >= dy) error += dy, x0 += sx;
    if (e2 <= dx) error += dx, y0 += sy;
  }
}

void draw_box(Image& image, int64_t top, int64_t left, int64_t height, int64_t width, Rgb color, int64_t thickness) {
  fill_rect(image, left, top, width, thickness, color);
  fill_rect(image, left, top + height - thickness, width, thickness, color);
  fill_rect(image, left, top, thickness, height, color);
  fill_rect(image, left + width - thickness, top, thickness, height, color);
}

Image plot_curves(const std::vector<Curve>& curves, const std::string& title, const std::string& x_label,
                  int64_t height, int64_t width) {
  Image image = blank_image(height, width);
  const int64_t left = 80, right = 20, top = 40, bottom = 50;
  const int64_t plot_w = width - left - right, plot_h = height - top - bottom;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const Curve& c : curves)
    for (size_t i = 0; i < c.x.size(); ++i) {
      if (!std::isfinite(c.y[i])) continue;
      x_lo = std::min(x_lo, c.x[i]), x_hi = std::max(x_hi, c.x[i]);
      y_lo = std::min(y_lo, c.y[i]), y_hi = std::max(y_hi, c.y[i]);
    }
  if (!std::isfinite(x_lo)) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;  // no finite point: empty axes
  if (x_hi == x_lo) x_hi = x_lo + 1;
  if (y_hi == y_lo) y_lo -= 0.5, y_hi += 0.5;
  const double y_pad = 0.05 * (y_hi - y_lo);
  y_lo -= y_pad, y_hi += y_pad;
  auto px = [&](double x) { return left + static_cast<int64_t>(std::lround((x - x_lo) / (x_hi - x_lo) * plot_w)); };
  auto py = [&](double y) { return top + plot_h - static_cast<int64_t>(std::lround((y - y_lo) / (y_hi - y_lo) * plot_h)); };

  const Rgb grid{225, 225, 225}, ink{40, 40, 40};
  for (double t : nice_ticks(y_lo, y_hi)) {
    draw_line(image, left, py(t), left + plot_w, py(t), grid);
    const std::string label = number_text(t);
    draw_text(image, left - 8 - text_width(label), py(t) - 3, label, 1, ink);
  }
  for (double t : nice_ticks(x_lo, x_hi)) {
    draw_line(image, px(t), top, px(t), top + plot_h, grid);
    const std::string label = number_text(t);
    draw_text(image, px(t) - text_width(label) / 2, top + plot_h + 8, label, 1, ink);
  }
  draw_line(image, left, top, left, top + plot_h, ink);
  draw_line(image, left, top + plot_h, left + plot_w, top + plot_h, ink);
  draw_text(image, left, 12, title, 2, ink);
  draw_text(image, left + plot_w / 2 - text_width(x_label) / 2, height - 20, x_label, 1, ink);

  int64_t legend_y = top + 8;
  for (const Curve& c : curves) {
    for (size_t i = 1; i < c.x.size(); ++i)
      if (std::isfinite(c.y[i - 1]) && std::isfinite(c.y[i]))
        draw_line(image, px(c.x[i - 1]), py(c.y[i - 1]), px(c.x[i]), py(c.y[i]), c.color);
    if (c.label.empty()) continue;
    const int64_t legend_x = left + plot_w - text_width(c.label) - 30;
    fill_rect(image, legend_x, legend_y + 2, 20, 3, c.color);
    draw_text(image, legend_x + 26, legend_y, c.label, 1, ink);
    legend_y += 14;
  }
  return image;
}

Image upscale_nearest(const Image& image, int64_t factor) {
  Image out{image.height * factor, image.width * factor, image.channels,
            std::vector<uint8_t>(image.pixels.size() * factor * factor)};
  for (int64_t y = 0; y < out.height; ++y)
    for (int64_t x = 0; x < out.width; ++x)
      std::copy_n(&image.pixels[((y / factor) * image.width + x / factor) * image.channels], image.channels,
                  &out.pixels[(y * out.width + x) * out.channels]);
  return out;
}

std::vector<Image> to_images(const Tensor& normalized) {
  Tensor pixels = imagenet_denormalize(normalized.detach().to(Device::CPU).to(DType::F32));  // (B, 3, H, W)
  std::vector<Image> images;
  for (int64_t i = 0; i < pixels.size(0); ++i) images.push_back(tensor_to_image(pixels.narrow(0, i, 1).squeeze(0)));
  return images;
}

Image labelled_grid(const std::vector<std::string>& labels, const std::vector<std::vector<Image>>& rows, int64_t pad) {
  check(labels.size() == rows.size() && !rows.empty() && !rows[0].empty(), "labelled_grid",
        "needs one label per row and at least one tile");
  const Image grid = make_grid(rows, pad);
  const int64_t scale = rows[0][0].height >= 96 ? 2 : 1;
  int64_t label_w = 0;
  for (const std::string& l : labels) label_w = std::max(label_w, text_width(l, scale));
  label_w += 2 * pad;
  // The labels in a column of their own, each centred on its row of tiles.
  Image out = blank_image(grid.height, label_w + grid.width);
  for (int64_t y = 0; y < grid.height; ++y)
    std::copy_n(&grid.pixels[y * grid.width * 3], grid.width * 3, &out.pixels[(y * out.width + label_w) * 3]);
  const int64_t row_h = (grid.height - pad) / static_cast<int64_t>(rows.size());
  for (size_t r = 0; r < rows.size(); ++r)
    draw_text(out, pad, pad + static_cast<int64_t>(r) * row_h + row_h / 2 - 4 * scale, labels[r], scale, {40, 40, 40});
  return out;
}

Image overlay_heatmap(const Image& image, const Tensor& values, double alpha) {
  check(values.dim() == 2, "overlay_heatmap", "values must be (h, w), got ", fmt(values.shape()));
  Tensor up = resize_bilinear(values.detach().to(Device::CPU).to(DType::F32).unsqueeze(0), image.height, image.width);
  const std::vector<float> v = up.to_vector<float>();  // (H * W)
  Image out = image;
  for (int64_t i = 0; i < image.height * image.width; ++i) {
    const double t = std::clamp(static_cast<double>(v[i]), 0.0, 1.0);
    // dark blue -> magenta -> yellow, readable on most frames
    const double heat[3] = {std::min(1.0, 2 * t), std::max(0.0, 2 * t - 1), std::max(0.0, 0.5 - t)};
    for (int c = 0; c < 3; ++c) {
      uint8_t& p = out.pixels[i * image.channels + c];
      p = static_cast<uint8_t>(std::lround((1 - alpha) * p + alpha * 255 * heat[c]));
    }
  }
  return out;
}

}  // namespace sm
