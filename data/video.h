// Videos as folders of frames, and datasets of such folders.
//
// A video is a folder of .jpg/.jpeg/.png frames in name order (00000.jpg, 00001.jpg, ...;
// data/video_to_frames.sh makes one from an .mp4). A dataset root is a folder of video
// folders, or itself one video folder. Listing thousands of folders is slow on network
// disks, so the listing of each root is cached (see VideoDatasetOptions::cache_dir) and a
// clip folder is only listed again when its modification time changes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sm {

struct Video {
  std::string name;                      // the folder's name
  std::string folder;                    // its path
  std::vector<std::string> frame_paths;  // in name order
  int64_t num_frames() const { return static_cast<int64_t>(frame_paths.size()); }
};

// One video folder; throws "[video] no frames ... in <folder>" when it holds none.
Video read_video_folder(const std::string& folder);

struct VideoDatasetOptions {
  // Shorter clips are skipped (and counted). SiamMAE needs gap_min + 1 frames per clip.
  int64_t min_frames = 5;
  // Where the listing cache lives. Empty: $SIAMMAE_CACHE_DIR, else $XDG_CACHE_HOME/siammae,
  // else ~/.cache/siammae. The data roots themselves may be read-only.
  std::string cache_dir;
  bool use_cache = true;
};

struct VideoDataset {
  std::vector<Video> videos;         // roots in the order given, clips in name order
  std::vector<std::string> skipped;  // folders of clips shorter than min_frames
  int64_t listed_from_cache = 0;     // clip folders whose listing came from the cache

  // Opens one or more roots; "a,b" in a single string is split at the commas. Throws when a
  // root is missing, holds no clip folders, or when no clip is long enough; prints one
  // warning line to stderr when clips were skipped.
  static VideoDataset open(const std::vector<std::string>& roots, const VideoDatasetOptions& options = {});
  static VideoDataset open(const std::string& roots, const VideoDatasetOptions& options = {});
};

}  // namespace sm
