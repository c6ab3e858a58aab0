// DAVIS layouts: a sequence list and folders of frames and masks, opened and read as
// propagation reads them. The input is a small script that builds the layout:
//
//   first lines, up to a line "--":  ImageSets/2017/val.txt as it is
//   then one entry per line:        F|M|G <sequence> <file>
//       F: a frame  JPEGImages/480p/<sequence>/<file>   (a real 16x16 JPEG)
//       M: a mask   Annotations/480p/<sequence>/<file>  (a real 16x16 palette PNG)
//       G: garbage  Annotations/480p/<sequence>/<file>  (the rest of the line's bytes)
//
// Names with '/' or ".." in entries are skipped, so the script only writes inside its own
// folder; the list file itself may name anything, which the reader must refuse.
#include <fstream>
#include <sstream>

#include "data/davis.h"
#include "tests/fuzz/fuzz_support.h"

namespace fs = std::filesystem;

namespace {

bool plain_name(const std::string& name) {
  return !name.empty() && name.size() < 64 && name.find('/') == std::string::npos && name.find("..") == std::string::npos;
}

struct Samples {
  std::string frame, mask;  // a valid frame and mask to copy
  Samples() {
    const fs::path dir = sm::fuzz::scratch() / "samples";
    frame = (dir / "frame.jpg").string(), mask = (dir / "mask.png").string();
    sm::Image image{16, 16, 3, std::vector<uint8_t>(16 * 16 * 3, 90)};
    sm::write_jpeg(frame, image);
    sm::IndexedImage labels{16, 16, std::vector<uint8_t>(16 * 16, 0), sm::davis_palette()};
    for (int i = 0; i < 40; ++i) labels.indices[i * 3] = static_cast<uint8_t>(1 + i % 3);
    sm::write_indexed_png(mask, labels);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Samples samples;
  const fs::path root = sm::fuzz::scratch() / "davis";
  fs::remove_all(root);
  fs::create_directories(root / "ImageSets" / "2017");
  std::istringstream script(std::string(reinterpret_cast<const char*>(data), size));
  {
    std::ofstream list(root / "ImageSets" / "2017" / "val.txt", std::ios::binary);
    for (std::string line; std::getline(script, line) && line != "--";) list << line << "\n";
  }
  int entries = 0;
  for (std::string line; std::getline(script, line) && entries < 64; ++entries) {
    std::istringstream fields(line);
    std::string kind, sequence, file;
    fields >> kind >> sequence >> file;
    if (!plain_name(sequence) || !plain_name(file)) continue;
    const fs::path folder = root / (kind == "F" ? "JPEGImages" : "Annotations") / "480p" / sequence;
    std::error_code ignored;  // an entry the layout cannot hold (a file where a folder is) is skipped
    fs::create_directories(folder, ignored);
    if (kind == "F" || kind == "M") {
      fs::copy_file(kind == "F" ? samples.frame : samples.mask, folder / file, fs::copy_options::overwrite_existing,
                    ignored);
    } else {
      std::string rest;
      std::getline(fields, rest);
      std::ofstream(folder / file, std::ios::binary) << rest;
    }
  }
  sm::fuzz::refuse_or_read([&] {
    const sm::DavisDataset dataset = sm::DavisDataset::open(root.string());
    for (const sm::DavisSequence& sequence : dataset.sequences) {
      sm::fuzz::refuse_or_read([&] {
        for (const sm::IndexedImage& mask : sm::read_masks(sequence)) sm::object_ids(mask);
      });
      sm::fuzz::refuse_or_read([&] { sm::read_first_mask(sequence); });
    }
  });
  return 0;
}
