#include "models/siammae/data_parallel.h"

#include <algorithm>
#include <optional>
#include <sstream>
#include <thread>

#include "tensor/backend.h"

namespace sm {

DataParallel::DataParallel(Device device, double timeout_seconds)
    : communicator_(connect_ranks({.device = device, .timeout_seconds = timeout_seconds})),
      launched_(!launcher_mark().empty()),
      timeout_seconds_(timeout_seconds) {}

std::string DataParallel::describe() const {
  if (ranks() == 1) return "1 process";
  std::ostringstream text;
  text << ranks() << " ranks (" << communicator_->name() << "), all-reduce timeout " << timeout_seconds_ << " s";
  return text.str();
}

std::ostream& DataParallel::output(std::ostream& out) {
  static std::ostream discard(nullptr);  // no buffer: every write is dropped
  if (!launched_) return out;
  if (!is_main()) return discard;
  forwarded_.rdbuf(out.rdbuf());
  return forwarded_;
}

void DataParallel::share_cores() const {
  const int local = communicator_->local_size();
  if (local <= 1) return;
  // cpu_threads() follows this rank's CPU binding (mpirun binds each rank to a core by default).
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  set_cpu_threads(std::max(1, std::min(cpu_threads(), cores / local)));
}

VideoDataset DataParallel::open_videos(const std::function<VideoDataset()>& open) const {
  if (ranks() == 1) return open();
  std::optional<VideoDataset> videos;
  if (is_main()) videos = open();
  communicator_->same_on_all_ranks(0, "the listing of the videos (rank 0 first)");  // all wait for rank 0
  if (!is_main()) videos = open();
  std::vector<std::string> frames;
  for (const Video& video : videos->videos) frames.insert(frames.end(), video.frame_paths.begin(), video.frame_paths.end());
  check(communicator_->same_on_all_ranks(fingerprint(frames), "comparing the videos"), "train",
        "the ranks see different videos in --data: every machine needs the same frame folders (", frames.size(),
        " frames on rank ", rank(), ")");
  return std::move(*videos);
}

void DataParallel::shard(PairLoaderOptions& options) const {
  options.shard = rank();
  options.shards = ranks();
}

PairMasks DataParallel::sample_masks(const SiamMAE& model, int64_t batch, Generator& gen) const {
  if (ranks() == 1) return model.sample_masks(batch, gen);
  const PairMasks global = model.sample_masks(ranks() * batch, gen);
  auto own_rows = [&](const PatchMask& mask) {  // rows rank, rank + ranks, ...
    if (!mask.ids_shuffle.defined()) return mask;  // f1 whole
    const Tensor rows = arange(rank(), static_cast<double>(ranks() * batch), ranks(),
                               {.dtype = DType::I64, .device = mask.ids_shuffle.device()});  // (B)
    return mask_from_shuffle(index_select(mask.ids_shuffle, 0, rows), mask.n_keep, mask.mask);
  };
  return {own_rows(global.f1), own_rows(global.f2)};
}

DataParallel::Agreement DataParallel::average(const SiamMAE& model, double loss, bool stop_requested, int64_t step) {
  if (ranks() == 1) return {loss, stop_requested};
  if (!averager_) averager_ = std::make_unique<GradientAverager>(*communicator_, model.parameters());
  const std::vector<double> means =
      averager_->average({loss, stop_requested ? 1.0 : 0.0}, "the gradients of step " + std::to_string(step + 1));
  agreed_stop_ = means[1] > 0;
  return {means[0], agreed_stop_};
}

void DataParallel::check_same_parameters(const SiamMAE& model, const std::string& when) const {
  if (ranks() == 1) return;
  const bool same = communicator_->same_on_all_ranks(fingerprint(model.parameters()), "comparing the parameters");
  check(same, "train", "the ranks hold different parameters ", when,
        when == "at the start" ? ": does every machine see the same --out folder (a shared file system)?"
                               : ": their all-reduce did not give every rank the same sums; nothing is saved");
}

}  // namespace sm
