// VIP files: the video list (vip_vallist.txt, or names), and the class-id PNGs scored with a
// confusion matrix. The first byte picks which; the rest is the file.
#include <fstream>

#include "data/image.h"
#include "eval/metrics.h"
#include "eval/pipeline.h"
#include "eval/vip.h"
#include "tests/fuzz/fuzz_support.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const fs::path root = [] {  // one video with one frame and its labels
    const fs::path r = sm::fuzz::scratch() / "vip";
    sm::write_jpeg((r / "Images/v1/00000.jpg").string(), {8, 8, 3, std::vector<uint8_t>(8 * 8 * 3, 50)});
    sm::write_indexed_png((r / "Annotations/Category_ids/v1/00000.png").string(), {8, 8, std::vector<uint8_t>(64, 3), {}});
    return r;
  }();
  const std::string path = sm::fuzz::input_file(data + 1, size - 1, "vip-input");
  if (data[0] % 2 == 0) {
    sm::fuzz::refuse_or_read([&] {
      sm::VipOptions options;
      options.root = root.string();
      options.list = path;
      sm::vip_videos(options);
    });
  } else {
    sm::fuzz::refuse_or_read([&] {
      const sm::LabelMap predicted = sm::read_label_map(path);
      sm::LabelMap truth(predicted.height, predicted.width, 1);
      sm::ConfusionMatrix confusion(20);
      confusion.add(truth, predicted);
      confusion.mean_iou();
      sm::resize_nearest(predicted, 7, 9);
    });
  }
  return 0;
}
