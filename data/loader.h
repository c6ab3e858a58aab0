// PairLoader: batches of augmented SiamMAE frame pairs, decoded by worker threads ahead of the
// training step.
//
// What batch k holds is a pure function of (seed, k), whatever the number of workers and the
// timing of the threads, so a loader started at first_batch = k continues an interrupted run
// exactly:
// - the pairs form one stream, epoch after epoch; an epoch is one pass over the videos, in
//   an order drawn from derive_seed(seed, order, e); each video gives `repeats` pairs, next
//   to each other (repeated sampling);
// - batch k is pairs [k B, (k + 1) B) of the stream; a batch may span the end of one epoch
//   and the start of the next, so any number of videos works with any batch size;
// - split into `shards` (the ranks of data-parallel training, each with its own loader),
//   batch k of shard s holds rows s, s + shards, ... of the global batch k of shards x B
//   pairs, so that the shards together see exactly the pairs of one loader of batch shards x B;
// - pair i's gap, first frame, crop, flip and jitter come from its own Generator, seeded with
//   derive_seed(seed, pairs, i).
// Workers take batch numbers in order; next() hands them out in order.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/transforms.h"
#include "data/video.h"
#include "tensor/tensor.h"

namespace sm {

struct PairLoaderOptions : AugmentOptions {  // image_size, crop_scale, crop_ratio, hflip_prob, jitter
  int64_t batch_size = 64;
  int64_t workers = 2;  // 0 builds each batch inside next(), on the caller's thread
  uint64_t seed = 0;
  int64_t prefetch = 4;               // batches decoded ahead of the consumer (at least `workers`)
  int64_t gap_min = 4, gap_max = 48;  // frames between f1 and f2
  int64_t repeats = 2;                // pairs per video per epoch
  int64_t shard = 0, shards = 1;      // this loader's share of the global batch (see above)
};

struct PairSource {  // where one row of a batch came from
  std::string video;
  int64_t first = 0, second = 0;  // frame indices of f1 and f2
  CropBox crop;
  bool flipped = false;
};

struct PairBatch {
  Tensor f1, f2;      // (B, 3, S, S) float32, ImageNet-normalized; f1 the earlier frame
  int64_t index = 0;  // batch number since the start of training
  int64_t epoch = 0;   // the epoch of its (global batch's) first pair
  std::vector<PairSource> sources;  // one per row
};

class PairLoader {
 public:
  // Throws when an option is out of range or a video is shorter than gap_min + 1 frames.
  PairLoader(VideoDataset dataset, PairLoaderOptions options, int64_t first_batch = 0);
  ~PairLoader();  // stops the workers after the batch each is building
  PairLoader(const PairLoader&) = delete;
  PairLoader& operator=(const PairLoader&) = delete;

  // Blocks until the next batch in order is ready. A batch that failed to load (say, a
  // corrupt JPEG) rethrows its error here, at its turn.
  PairBatch next();
  int64_t pairs_per_epoch() const { return pairs_per_epoch_; }
  int64_t videos() const { return static_cast<int64_t>(dataset_.videos.size()); }
  double wait_seconds() const { return wait_seconds_; }  // total time next() waited for workers

  // Batch k itself, built on the calling thread: what next() returns as batch k.
  PairBatch make_batch(int64_t k) const;

 private:
  void work();

  const VideoDataset dataset_;
  const PairLoaderOptions options_;
  const int64_t pairs_per_epoch_, depth_;

  std::mutex mutex_;
  std::condition_variable room_;    // a worker may start another batch, or stop
  std::condition_variable filled_;  // a batch was finished
  int64_t next_to_build_, next_to_return_;
  struct Built {
    PairBatch batch;
    std::exception_ptr error;  // set when building the batch threw
  };
  std::map<int64_t, Built> built_;  // finished batches the consumer has not taken yet
  bool stopping_ = false;
  double wait_seconds_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace sm
