#include "data/video.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/files.h"
#include "tensor/error.h"

namespace sm {

namespace fs = std::filesystem;

namespace {

// A clip folder's listing as the cache keeps it.
struct CachedClip {
  int64_t modified = 0;  // the folder's modification time, ns
  std::vector<std::string> frames;
  bool operator==(const CachedClip&) const = default;
};
using Listing = std::map<std::string, CachedClip>;  // clip folder name -> listing

// A folder changed within this long before a scan may change again without its time stamp
// moving (file systems tick coarsely), so its listing is not cached until it is older.
constexpr int64_t kUnsettledNs = 2'000'000'000;

int64_t nanoseconds(fs::file_time_type time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string default_cache_dir() {
  if (!environment("SIAMMAE_CACHE_DIR").empty()) return environment("SIAMMAE_CACHE_DIR");
  if (!environment("XDG_CACHE_HOME").empty()) return environment("XDG_CACHE_HOME") + "/siammae";
  if (!environment("HOME").empty()) return environment("HOME") + "/.cache/siammae";
  return "";
}

// The cache file of one root: a stable hash (FNV-1a) of its absolute path names it.
std::string cache_file_for(const std::string& cache_dir, const std::string& root) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : root) hash = (hash ^ c) * 0x100000001b3ull;
  std::ostringstream name;
  name << cache_dir << "/videos-" << std::hex << hash << ".json";
  return name.str();
}

// A missing, unreadable or foreign cache file is an empty listing: the cache only saves time.
Listing load_listing(const std::string& file, const std::string& root) {
  Listing listing;
  std::ifstream in(file);
  if (!in.good()) return listing;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  try {
    if (j.is_discarded() || j.at("root") != root) return listing;
    for (const auto& [name, clip] : j.at("clips").items())
      listing[name] = {clip.at("modified").get<int64_t>(), clip.at("frames").get<std::vector<std::string>>()};
  } catch (const nlohmann::json::exception&) {
    listing.clear();
  }
  return listing;
}

// Failing to write the cache (read-only home, full disk) costs only speed: it warns.
void save_listing(const std::string& file, const std::string& root, const Listing& listing) {
  nlohmann::json clips = nlohmann::json::object();
  for (const auto& [name, clip] : listing) clips[name] = {{"modified", clip.modified}, {"frames", clip.frames}};
  const std::string text = nlohmann::json{{"root", root}, {"clips", clips}}.dump();
  try {
    write_file_atomically(file, text, "videos");
  } catch (const Error& e) {
    std::cerr << e.what() << " (the folder listing is not cached)\n";
  }
}

Video make_video(const fs::path& folder, const std::vector<std::string>& frames) {
  Video video{folder.filename().string(), folder.string(), {}};
  for (const std::string& frame : frames) video.frame_paths.push_back((folder / frame).string());
  return video;
}

// The videos of one root, each clip folder listed or taken from the cache.
std::vector<Video> open_root(const std::string& root, const VideoDatasetOptions& options, int64_t& listed_from_cache) {
  check(is_folder(root), "videos", "data folder ", root, " does not exist");
  if (!list_frame_files(root).empty()) return {read_video_folder(root)};
  const std::vector<std::string> clips = list_subfolders(root);
  check(!clips.empty(), "videos", root, " holds no clip folders (folders of .jpg/.png frames)");

  const std::string absolute_root = fs::absolute(root).lexically_normal().string();
  const std::string cache_dir =
      options.use_cache ? (options.cache_dir.empty() ? default_cache_dir() : options.cache_dir) : "";
  const std::string cache_file = cache_dir.empty() ? "" : cache_file_for(cache_dir, absolute_root);
  const Listing cached = cache_file.empty() ? Listing{} : load_listing(cache_file, absolute_root);
  Listing fresh;
  const int64_t now = nanoseconds(fs::file_time_type::clock::now());
  std::vector<Video> videos;
  for (const std::string& name : clips) {
    const fs::path folder = fs::path(root) / name;
    CachedClip clip{nanoseconds(fs::last_write_time(folder)), {}};
    const auto hit = cached.find(name);
    if (hit != cached.end() && hit->second.modified == clip.modified) {
      clip.frames = hit->second.frames;
      ++listed_from_cache;
    } else {
      clip.frames = list_frame_files(folder.string());
    }
    videos.push_back(make_video(folder, clip.frames));
    if (now - clip.modified > kUnsettledNs) fresh[name] = std::move(clip);
  }
  if (!cache_file.empty() && fresh != cached) save_listing(cache_file, absolute_root, fresh);
  return videos;
}

}  // namespace

Video read_video_folder(const std::string& folder) {
  check(is_folder(folder), "video", "folder ", folder, " does not exist");
  const std::vector<std::string> frames = list_frame_files(folder);
  check(!frames.empty(), "video", "no frames (.jpg, .jpeg, .png) in ", folder);
  return make_video(fs::path(folder), frames);
}

VideoDataset VideoDataset::open(const std::vector<std::string>& roots, const VideoDatasetOptions& options) {
  check(!roots.empty(), "videos", "no data folder given");
  check(options.min_frames >= 1, "videos", "min_frames must be >= 1, got ", options.min_frames);
  VideoDataset dataset;
  int64_t without_frames = 0;
  for (const std::string& root : roots)
    for (Video& video : open_root(root, options, dataset.listed_from_cache)) {
      if (video.frame_paths.empty())
        ++without_frames;  // not a clip (e.g. a LICENSES folder)
      else if (video.num_frames() < options.min_frames)
        dataset.skipped.push_back(video.folder);
      else
        dataset.videos.push_back(std::move(video));
    }
  std::ostringstream joined;
  for (size_t i = 0; i < roots.size(); ++i) joined << (i ? "," : "") << roots[i];
  check(!dataset.videos.empty(), "videos", "no usable clip in ", joined.str(), ": ", dataset.skipped.size(),
        " shorter than ", options.min_frames, " frames, ", without_frames, " folders without frames");
  if (!dataset.skipped.empty())
    std::cerr << "[videos] warning: skipped " << dataset.skipped.size() << " clips shorter than " << options.min_frames
              << " frames (first: " << dataset.skipped.front() << ")\n";
  return dataset;
}

VideoDataset VideoDataset::open(const std::string& roots, const VideoDatasetOptions& options) {
  std::vector<std::string> parts;
  std::stringstream stream(roots);
  for (std::string part; std::getline(stream, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return open(parts, options);
}

}  // namespace sm
