#include "data/loader.h"

#include <algorithm>
#include <chrono>

#include "data/pairs.h"
#include "tensor/random.h"

namespace sm {

// derive_seed streams: the video order of an epoch, and the randomness of one pair.
constexpr uint64_t kOrderStream = 1, kPairStream = 2;

static const PairLoaderOptions& checked(const PairLoaderOptions& o, const VideoDataset& dataset) {
  const std::string op = "PairLoader";
  check(!dataset.videos.empty(), op, "the dataset holds no videos");
  check(o.batch_size >= 1 && o.workers >= 0 && o.prefetch >= 1 && o.repeats >= 1, op,
        "need batch_size >= 1, workers >= 0, prefetch >= 1, repeats >= 1; got ", o.batch_size, ", ", o.workers, ", ",
        o.prefetch, ", ", o.repeats);
  check(o.shards >= 1 && o.shard >= 0 && o.shard < o.shards, op, "shard ", o.shard, " of ", o.shards,
        " does not exist: need 0 <= shard < shards");
  check_gap_range(o.gap_min, o.gap_max);
  check_augment_options(o);
  for (const Video& video : dataset.videos)
    check(video.num_frames() > o.gap_min, op, "clip ", video.folder, " has ", video.num_frames(),
          " frames, too few for a gap of ", o.gap_min, " (open the dataset with min_frames = gap_min + 1)");
  return o;
}

PairLoader::PairLoader(VideoDataset dataset, PairLoaderOptions options, int64_t first_batch)
    : dataset_(std::move(dataset)),
      options_(checked(options, dataset_)),
      pairs_per_epoch_(static_cast<int64_t>(dataset_.videos.size()) * options_.repeats),
      depth_(std::max(options_.prefetch, options_.workers)),
      next_to_build_(first_batch),
      next_to_return_(first_batch) {
  check(first_batch >= 0, "PairLoader", "first_batch must be >= 0, got ", first_batch);
  for (int64_t w = 0; w < options_.workers; ++w) threads_.emplace_back(&PairLoader::work, this);
}

PairLoader::~PairLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  room_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void PairLoader::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    room_.wait(lock, [&] { return stopping_ || next_to_build_ < next_to_return_ + depth_; });
    if (stopping_) return;
    const int64_t k = next_to_build_++;
    lock.unlock();
    Built built;
    try {
      built.batch = make_batch(k);
    } catch (...) {
      built.error = std::current_exception();
    }
    lock.lock();
    built_[k] = std::move(built);
    filled_.notify_all();
  }
}

PairBatch PairLoader::next() {
  const auto start = std::chrono::steady_clock::now();
  const auto record_wait = [&] {
    wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  if (threads_.empty()) {
    PairBatch batch = make_batch(next_to_return_++);
    record_wait();
    return batch;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  filled_.wait(lock, [&] { return built_.count(next_to_return_) > 0; });
  record_wait();
  Built built = std::move(built_.extract(next_to_return_++).mapped());
  lock.unlock();
  room_.notify_all();
  if (built.error) std::rethrow_exception(built.error);
  return std::move(built.batch);
}

// Writes (x - mean) / std per channel of a (3, S, S) image into one batch row: the arithmetic
// of imagenet_normalize as a plain loop, because tensor ops would start an OpenMP team on
// every worker thread (and took longer than decoding the frames).
static void write_normalized(const Tensor& chw, float* row) {
  const int64_t plane = chw.size(1) * chw.size(2);
  const float* in = chw.data<float>();
  for (int64_t c = 0; c < 3; ++c) {
    const auto mean = static_cast<float>(kImagenetMean[c]), std = static_cast<float>(kImagenetStd[c]);
    for (int64_t i = 0; i < plane; ++i) row[c * plane + i] = (in[c * plane + i] - mean) / std;
  }
}

PairBatch PairLoader::make_batch(int64_t k) const {
  const int64_t B = options_.batch_size, S = options_.image_size, shards = options_.shards;
  const int64_t first_pair = k * B * shards;  // of the global batch, whose rows shard, shard + shards, ... are ours
  PairBatch batch{empty({B, 3, S, S}), empty({B, 3, S, S}), k, first_pair / pairs_per_epoch_, {}};  // f1, f2: (B, 3, S, S)
  std::vector<int64_t> order;  // the video order of the epoch of the current pair
  int64_t order_epoch = -1;
  for (int64_t row = 0; row < B; ++row) {
    const int64_t pair = first_pair + options_.shard + row * shards;
    const int64_t epoch = pair / pairs_per_epoch_, slot = pair % pairs_per_epoch_;
    if (epoch != order_epoch) {
      Generator order_generator(derive_seed(options_.seed, kOrderStream, static_cast<uint64_t>(epoch)));
      order = randperm(static_cast<int64_t>(dataset_.videos.size()), &order_generator).to_vector<int64_t>();
      order_epoch = epoch;
    }
    const Video& video = dataset_.videos[order[slot / options_.repeats]];
    Generator gen(derive_seed(options_.seed, kPairStream, static_cast<uint64_t>(pair)));
    const FramePair frames = sample_frame_pair(video.num_frames(), options_.gap_min, options_.gap_max, gen);
    const std::string& path1 = video.frame_paths[frames.first];
    const std::string& path2 = video.frame_paths[frames.second];
    const Image image1 = read_image(path1), image2 = read_image(path2);
    check(image1.height == image2.height && image1.width == image2.width, "PairLoader", "frames ", path1, " (",
          image1.height, "x", image1.width, ") and ", path2, " (", image2.height, "x", image2.width,
          ") of one clip differ in size");
    const AugmentedPair augmented = augment_pair(image1, image2, options_, gen);
    const int64_t at = row * 3 * S * S;
    write_normalized(augmented.f1, batch.f1.data<float>() + at);
    write_normalized(augmented.f2, batch.f2.data<float>() + at);
    batch.sources.push_back({video.name, frames.first, frames.second, augmented.crop, augmented.flipped});
  }
  return batch;
}

}  // namespace sm
