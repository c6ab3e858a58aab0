// Loader benchmark: pairs per second the PairLoader delivers on real frames
// (../shared/data/pretrain, 455x256 JPEGs) at the tiny (64) and small (112) image sizes with
// 1 and 2 worker threads, batch 64, after one warm-up batch. Training never waits for data
// when a step takes longer than the "ms per batch" column.
//   build/benchmarks/bench_loader [DATA_ROOT] [--batches N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "data/loader.h"

using namespace sm;

int main(int argc, char** argv) {
  std::string root = std::string(SM_SOURCE_DIR) + "/../shared/data/pretrain";
  int64_t batches = 6;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--batches") == 0 && i + 1 < argc)
      batches = std::stoll(argv[++i]);
    else
      root = argv[i];
  }
  if (!std::filesystem::is_directory(root)) {
    std::printf("skipped: no frame folders at %s (pass DATA_ROOT)\n", root.c_str());
    return 0;
  }
  VideoDatasetOptions dataset_options;
  dataset_options.cache_dir = (std::filesystem::temp_directory_path() / "siammae-bench-cache").string();
  const VideoDataset dataset = VideoDataset::open(root, dataset_options);
  constexpr int64_t kBatch = 64;
  std::printf("loader throughput on %s: %zu clips, batch %lld, %lld timed batches after one warm-up\n\n", root.c_str(),
              dataset.videos.size(), static_cast<long long>(kBatch), static_cast<long long>(batches));
  std::printf("| image size | workers | pairs/s | ms per batch |\n|---|---|---|---|\n");
  for (int64_t size : {64, 112})
    for (int64_t workers : {1, 2}) {
      PairLoaderOptions options;
      options.image_size = size;
      options.workers = workers;
      options.batch_size = kBatch;
      PairLoader loader(dataset, options);
      loader.next();  // fills the pipeline
      const auto start = std::chrono::steady_clock::now();
      for (int64_t b = 0; b < batches; ++b) loader.next();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("| %lld | %lld | %.0f | %.0f |\n", static_cast<long long>(size), static_cast<long long>(workers),
                  static_cast<double>(batches * kBatch) / seconds, 1000 * seconds / static_cast<double>(batches));
      std::fflush(stdout);
    }
  return 0;
}
