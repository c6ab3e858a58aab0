#include "eval/jhmdb.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "autograd/functions.h"
#include "data/files.h"
#include "eval/mat_file.h"
#include "eval/progress.h"

namespace sm {

namespace fs = std::filesystem;

std::vector<Pose> read_jhmdb_joints(const std::string& mat_path) {
  const MatArray pos = read_mat_array(mat_path, "pos_img");
  check(pos.dims.size() == 3 && pos.dims[0] == 2, "jhmdb", mat_path, ": pos_img should be (2, joints, frames)");
  std::vector<Pose> poses(pos.dims[2], Pose(pos.dims[1]));
  for (int64_t t = 0; t < pos.dims[2]; ++t)
    for (int64_t j = 0; j < pos.dims[1]; ++j) poses[t][j] = {pos.at({0, j, t}) - 1, pos.at({1, j, t}) - 1};
  return poses;
}

Tensor joint_heatmaps(const Pose& joints, int64_t height, int64_t width, double sigma) {
  const auto num_joints = static_cast<int64_t>(joints.size());
  Tensor maps = zeros({height, width, num_joints});  // (h, w, J)
  float* m = maps.data<float>();
  const double size = 6 * sigma + 1;
  const auto patch = static_cast<int64_t>(std::ceil(size)), centre = static_cast<int64_t>(std::floor(size / 2));
  for (int64_t j = 0; j < num_joints; ++j) {
    // The patch covers [ul, br) around the joint; Python's int() truncates toward zero.
    const int64_t ul_x = static_cast<int64_t>(std::trunc(joints[j].x - 3 * sigma));
    const int64_t ul_y = static_cast<int64_t>(std::trunc(joints[j].y - 3 * sigma));
    const int64_t br_x = static_cast<int64_t>(std::trunc(joints[j].x + 3 * sigma + 1));
    const int64_t br_y = static_cast<int64_t>(std::trunc(joints[j].y + 3 * sigma + 1));
    if (ul_x >= width || ul_y >= height || br_x < 0 || br_y < 0) continue;
    for (int64_t y = std::max<int64_t>(0, ul_y); y < std::min({br_y, height, ul_y + patch}); ++y)
      for (int64_t x = std::max<int64_t>(0, ul_x); x < std::min({br_x, width, ul_x + patch}); ++x) {
        const double dx = x - ul_x - centre, dy = y - ul_y - centre;
        m[(y * width + x) * num_joints + j] = static_cast<float>(std::exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)));
      }
  }
  return maps;
}

Pose heatmap_keypoints(const Tensor& heatmaps, int64_t topk) {
  check(heatmaps.dim() == 3, "heatmap_keypoints", "expects (h, w, J), got ", shape_str(heatmaps.shape()));
  const int64_t width = heatmaps.size(1), cells = heatmaps.size(0) * width, num_joints = heatmaps.size(2);
  const std::vector<float> v = contiguous(heatmaps).to_vector<float>();
  const int64_t k = std::min(topk, cells);
  Pose pose(num_joints);
  std::vector<int64_t> order(cells);
  for (int64_t j = 0; j < num_joints; ++j) {
    auto value = [&](int64_t cell) { return v[cell * num_joints + j]; };
    double mass = 0;
    for (int64_t c = 0; c < cells; ++c) mass += value(c);
    if (mass == 0) {
      pose[j] = {-1, -1, false};
      continue;
    }
    for (int64_t c = 0; c < cells; ++c) order[c] = c;
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int64_t a, int64_t b) { return value(a) > value(b); });
    double total = 0, x = 0, y = 0;
    for (int64_t i = 0; i < k; ++i) total += value(order[i]);
    for (int64_t i = 0; i < k; ++i) {
      x += value(order[i]) / total * static_cast<double>(order[i] % width);
      y += value(order[i]) / total * static_cast<double>(order[i] / width);
    }
    pose[j] = {x, y, true};
  }
  return pose;
}

namespace {

// One video of the list: its frames (as many as it has annotated poses) and those poses.
struct JhmdbVideo {
  std::string folder;
  std::vector<std::string> frames;
  std::vector<Pose> truth;
};

std::vector<JhmdbVideo> jhmdb_videos(const JhmdbOptions& options) {
  std::vector<JhmdbVideo> videos;
  for (const std::vector<std::string>& row : read_list_file(options.list)) {
    check(row.size() == 2, "jhmdb", options.list, ": expected a frame folder and a .mat file per line");
    const bool mat_first = row[0].ends_with(".mat");
    JhmdbVideo video;
    video.folder = resolve_path(options.root, row[mat_first ? 1 : 0]);
    video.truth = read_jhmdb_joints(resolve_path(options.root, row[mat_first ? 0 : 1]));
    for (const std::string& f : list_frame_files(video.folder)) video.frames.push_back((fs::path(video.folder) / f).string());
    video.frames.resize(std::min(video.frames.size(), video.truth.size()));
    video.truth.resize(video.frames.size());
    check(!video.frames.empty(), "jhmdb", video.folder, ": no frames");
    videos.push_back(std::move(video));
  }
  return videos;
}

}  // namespace

PckMeter propagate_jhmdb(FrameFeatures& features, const JhmdbOptions& options) {
  const std::vector<JhmdbVideo> videos = jhmdb_videos(options);
  int64_t total = 0;
  for (const JhmdbVideo& video : videos) total += static_cast<int64_t>(video.frames.size());
  WorkProgress progress("propagate-jhmdb", total, "frames", options.progress);
  PckMeter meter;
  for (size_t v = 0; v < videos.size(); ++v) {
    const JhmdbVideo& video = videos[v];
    progress.start_item("video", v, videos.size(), video.folder);
    const ImageSize image = read_image_size(video.frames[0]);
    std::vector<Pose> predicted(video.frames.size());
    int64_t grid_h = 0, grid_w = 0;
    propagate_video(features, video.frames, options.frames, options.propagation,
                    [&](int64_t h, int64_t w) {
                      grid_h = h, grid_w = w;
                      Pose on_grid = video.truth[0];  // pixels -> grid cells
                      for (Keypoint& p : on_grid) p.x *= static_cast<double>(w) / image.width, p.y *= static_cast<double>(h) / image.height;
                      return joint_heatmaps(on_grid, h, w, options.sigma);
                    },
                    [&](int64_t t, const Tensor& heatmaps) {
                      predicted[t] = heatmap_keypoints(heatmaps, options.pose_topk);  // grid cells -> pixels
                      for (Keypoint& p : predicted[t])
                        if (p.valid) p.x *= static_cast<double>(image.width) / grid_w, p.y *= static_cast<double>(image.height) / grid_h;
                      progress.advance();
                    });
    meter.add_video(predicted, video.truth);
    progress.finish_item(std::to_string(video.frames.size()) + " frames");
  }
  progress.finish();
  return meter;
}

}  // namespace sm
