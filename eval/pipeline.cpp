#include "eval/pipeline.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "autograd/functions.h"

namespace sm {

Tensor load_frame(const std::string& path, FrameSize size) {
  Tensor rgb = image_to_tensor(read_image(path, 3));  // (3, H, W) in [0, 1]
  if (rgb.size(1) != size.height || rgb.size(2) != size.width) rgb = resize_bilinear(rgb, size.height, size.width);
  return imagenet_normalize(rgb);  // (3, h, w)
}

Tensor downsample_labels(const LabelMap& map, int64_t num_labels, int64_t height, int64_t width) {
  Tensor one_hot = zeros({num_labels, map.height, map.width});  // (K, H, W)
  float* p = one_hot.data<float>();
  const int64_t plane = map.height * map.width;
  for (int64_t i = 0; i < plane; ++i)
    if (map.labels[i] < num_labels) p[map.labels[i] * plane + i] = 1;
  return resize_bilinear(one_hot, height, width).permute({1, 2, 0}).contiguous();  // (h, w, K)
}

LabelMap upsample_argmax(const Tensor& labels, int64_t height, int64_t width) {
  check(labels.dim() == 3 && labels.size(2) <= 256, "upsample_argmax", "expects (h, w, K) with K <= 256, got ",
        shape_str(labels.shape()));
  Tensor full = resize_bilinear(labels.permute({2, 0, 1}), height, width);  // (K, H, W)
  const std::vector<int64_t> best = argmax(full, 0).to_vector<int64_t>();   // (H, W)
  LabelMap map(height, width);
  for (size_t i = 0; i < best.size(); ++i) map.labels[i] = static_cast<uint8_t>(best[i]);
  return map;
}

void propagate_video(FrameFeatures& features, const std::vector<std::string>& frame_paths, const FrameOptions& frames,
                     const PropagationOptions& options, const std::function<Tensor(int64_t, int64_t)>& first_labels,
                     const std::function<void(int64_t, const Tensor&)>& on_frame) {
  check(!frame_paths.empty(), "propagate", "a video without frames");
  NoGradGuard no_grad;
  const ImageSize original = read_image_size(frame_paths[0]);
  const FrameSize size = evaluation_frame_size(original.height, original.width, frames.size, features.stride(), frames.square);
  const int64_t h = size.height / features.stride(), w = size.width / features.stride();
  const Tensor labels0 = first_labels(h, w);  // (h, w, K)
  LabelPropagator propagator(options);
  propagator.start(features.extract(load_frame(frame_paths[0], size)), labels0);
  on_frame(0, labels0);
  for (size_t t = 1; t < frame_paths.size(); ++t)
    on_frame(static_cast<int64_t>(t), propagator.step(features.extract(load_frame(frame_paths[t], size))));
}

std::vector<std::vector<std::string>> read_list_file(const std::string& path) {
  std::ifstream in(path);
  check(in.good(), "list", "cannot open ", path);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::vector<std::string> row;
    for (std::string field; fields >> field;) row.push_back(field);
    if (!row.empty()) rows.push_back(row);
  }
  return rows;
}

std::string resolve_path(const std::string& root, const std::string& path) {
  return std::filesystem::path(path).is_absolute() ? path : (std::filesystem::path(root) / path).string();
}

LabelMap label_map_of(const IndexedImage& image) {
  LabelMap map(image.height, image.width);
  map.labels = image.indices;
  return map;
}

IndexedImage indexed_image_of(const LabelMap& map, const Palette& palette) {
  return {map.height, map.width, map.labels, palette};
}

LabelMap read_label_map(const std::string& path) { return label_map_of(read_indexed_png(path)); }

Image overlay_labels(const Image& frame, const LabelMap& labels, const Palette& palette) {
  check(frame.channels == 3 && frame.height == labels.height && frame.width == labels.width, "overlay",
        "frame ", frame.height, "x", frame.width, "x", frame.channels, " and labels ", labels.height, "x",
        labels.width, " do not match");
  Image out = frame;
  for (int64_t i = 0; i < labels.height * labels.width; ++i) {
    const uint8_t label = labels.labels[i];
    if (label == 0 || label >= palette.size()) continue;
    for (int c = 0; c < 3; ++c)
      out.pixels[i * 3 + c] = static_cast<uint8_t>((frame.pixels[i * 3 + c] + palette[label][c] + 1) / 2);
  }
  return out;
}

Image shrink_to_width(const Image& image, int64_t width) {
  const int64_t height = std::max<int64_t>(1, image.height * width / image.width);
  return tensor_to_image(resize_bilinear(image_to_tensor(image), height, width));
}

}  // namespace sm
