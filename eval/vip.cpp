#include "eval/vip.h"

#include <filesystem>

#include "data/files.h"
#include "eval/progress.h"

namespace sm {

namespace {

namespace fs = std::filesystem;

std::string label_path(const VipVideo& video, const std::string& frame_file) {
  return (fs::path(video.label_folder) / (file_stem(frame_file) + ".png")).string();
}

std::string result_path(const std::string& results, const VipVideo& video, const std::string& frame_file) {
  return (fs::path(results) / video.name / (file_stem(frame_file) + ".png")).string();
}

}  // namespace

std::vector<VipVideo> vip_videos(const VipOptions& o) {
  const fs::path images = fs::path(o.root) / "Images", labels = fs::path(o.root) / "Annotations" / "Category_ids";
  std::vector<VipVideo> videos;
  if (o.list.empty()) {
    for (const std::string& name : list_subfolders(images.string()))
      videos.push_back({name, (images / name).string(), (labels / name).string()});
  } else {
    for (const std::vector<std::string>& row : read_list_file(o.list)) {
      check(row.size() <= 2, "vip", o.list, ": expected '<frame folder> <label folder>' or a video name per line");
      if (row.size() == 2)
        videos.push_back({fs::path(row[0]).filename().string(), resolve_path(o.root, row[0]), resolve_path(o.root, row[1])});
      else
        videos.push_back({row[0], (images / row[0]).string(), (labels / row[0]).string()});
    }
  }
  check(!videos.empty(), "vip", "no videos (root ", o.root, ", list '", o.list, "')");
  for (const VipVideo& v : videos)  // results are written under the name: it must not lead elsewhere
    check(!v.name.empty() && v.name.find('/') == std::string::npos && v.name != "." && v.name != "..", "vip",
          "video name '", v.name, "' is not a folder name");
  for (const VipVideo& v : videos)
    check(is_folder(v.frame_folder) && is_folder(v.label_folder), "vip", "video ", v.name,
          ": missing folder ", is_folder(v.frame_folder) ? v.label_folder : v.frame_folder);
  return videos;
}

ConfusionMatrix evaluate_vip(const std::string& results, const VipOptions& options) {
  ConfusionMatrix confusion(options.num_classes);
  for (const VipVideo& video : vip_videos(options)) {
    for (const std::string& frame : list_frame_files(video.frame_folder)) {
      if (!path_exists(label_path(video, frame))) continue;  // only annotated frames are scored
      const LabelMap truth = read_label_map(label_path(video, frame));
      const std::string path = result_path(results, video, frame);
      check(path_exists(path), "vip", "result ", path, " not found");
      LabelMap predicted = read_label_map(path);
      if (predicted.height != truth.height || predicted.width != truth.width)
        predicted = resize_nearest(predicted, truth.height, truth.width);
      confusion.add(truth, predicted);
    }
  }
  return confusion;
}

ConfusionMatrix propagate_vip(FrameFeatures& features, const VipOptions& options) {
  check(!options.out.empty(), "vip", "no output folder given");
  const std::vector<VipVideo> videos = vip_videos(options);
  std::vector<std::vector<std::string>> frames_of;  // each video's frame files
  int64_t total = 0;
  for (const VipVideo& video : videos) {
    frames_of.push_back(list_frame_files(video.frame_folder));
    total += static_cast<int64_t>(frames_of.back().size());
  }
  WorkProgress progress("propagate-vip", total, "frames", options.progress);
  for (size_t v = 0; v < videos.size(); ++v) {
    const VipVideo& video = videos[v];
    const std::vector<std::string>& frames = frames_of[v];
    progress.start_item("video", v, videos.size(), video.name);
    check(!frames.empty() && path_exists(label_path(video, frames[0])), "vip", "video ", video.name,
          ": the first frame needs an annotation ", frames.empty() ? video.label_folder : label_path(video, frames[0]));
    const LabelMap first = read_label_map(label_path(video, frames[0]));
    std::vector<std::string> paths;
    for (const std::string& f : frames) paths.push_back((fs::path(video.frame_folder) / f).string());
    // One channel per class: classes absent from the first frame stay at zero.
    propagate_video(features, paths, options.frames, options.propagation,
                    [&](int64_t h, int64_t w) { return downsample_labels(first, options.num_classes, h, w); },
                    [&](int64_t t, const Tensor& labels) {
                      const LabelMap predicted = t == 0 ? first : upsample_argmax(labels, first.height, first.width);
                      write_indexed_png(result_path(options.out, video, frames[t]), indexed_image_of(predicted, {}));
                      progress.advance();
                    });
    progress.finish_item(std::to_string(frames.size()) + " frames");
  }
  progress.finish();
  return evaluate_vip(options.out, options);
}

}  // namespace sm
