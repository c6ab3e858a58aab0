// DAVIS-style video segmentation datasets, and synthetic ones for fast tests.
//
// Layout (DAVIS 2017):
//   JPEGImages/<resolution>/<seq>/00000.jpg ...   frames
//   Annotations/<resolution>/<seq>/00000.png ...  8-bit indexed PNG masks: 0 background,
//                                                 1..N objects, 255 void; every frame (val)
//                                                 or only the first (test)
//   ImageSets/<year>/<split>.txt                  sequence names, one per line
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace sm {

struct DavisSequence {
  std::string name;
  std::vector<std::string> frame_paths;  // JPEGImages/<res>/<seq>/*.jpg in name order
  std::vector<std::string> mask_paths;   // Annotations/<res>/<seq>/*.png (may be just the first frame)
  std::vector<int64_t> mask_frames;      // the frame of each mask (same file name stem)
};

struct DavisDataset {
  std::string root;
  std::vector<DavisSequence> sequences;
  // Reads ImageSets/<year>/<split>.txt; clear errors naming the missing file/folder, an
  // empty frame folder, or a mask without a frame of the same name.
  static DavisDataset open(const std::string& root, const std::string& split = "val", const std::string& year = "2017",
                           const std::string& resolution = "480p");
  const DavisSequence& sequence(const std::string& name) const;  // throws listing the known names
};

// The objects of a mask: its distinct indices, sorted, without 0 (background) and 255 (void).
std::vector<int> object_ids(const IndexedImage& mask);

// Throws "[davis] mask <mask> is HxW but its frame <frame> is HxW" when the sizes differ.
void check_mask_size(const std::string& mask_path, const IndexedImage& mask, const std::string& frame_path);

// Mask m of a sequence (its palette indices and palette), checked against its frame's size.
IndexedImage read_mask(const DavisSequence& sequence, int64_t m);
// The first frame's mask: what semi-supervised propagation starts from.
IndexedImage read_first_mask(const DavisSequence& sequence);
std::vector<IndexedImage> read_masks(const DavisSequence& sequence);

// Synthetic videos: textured shapes moving over a panning textured background, each with an
// exact mask (later objects occlude earlier ones), written in the DAVIS layout under `root`
// (resolution folder "480p", ImageSets/2017/val.txt) with the DAVIS palette.
struct SyntheticDavisOptions {
  int64_t sequences = 2, frames = 8, height = 64, width = 96, objects = 2;
  uint64_t seed = 0;
};
void write_synthetic_davis(const std::string& root, const SyntheticDavisOptions& options);

}  // namespace sm
