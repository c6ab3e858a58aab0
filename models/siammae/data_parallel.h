// Data-parallel training (`mpirun -np N siammae train ...`): what train() asks of the ranks.
//
// N ranks each run the whole model on B = --batch pairs. Rank r takes rows r, r + N, ... of
// global batch k of N x B pairs (its PairLoader shard) and the same rows of the masks drawn
// for that global batch, so N ranks x batch B train on exactly the pairs and masks of
// 1 rank x batch N x B. The loss is the mean over the masked patches of the batch, and every
// pair has the same number of masked patches (random and grid masks both keep a fixed n_keep
// of f2's patches; symmetric masking changes f1 only), so the mean of the ranks' losses and
// gradients is the loss and gradient of the global batch. One all-reduce per step averages
// the gradients together with the loss and the stop request: every rank then applies the same
// update and takes the same decisions (a non-finite loss or gradient, a stop). Rank 0 alone
// writes the run's files; every rank reads the checkpoint to resume, and the ranks compare
// fingerprints of the videos they found, and of their parameters at the start and at every
// checkpoint.
//
// Started without a launcher, the program is the only rank and nothing here changes a step.
#pragma once

#include <functional>
#include <memory>
#include <ostream>

#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/gradients.h"
#include "models/siammae/model.h"

namespace sm {

class DataParallel {
 public:
  // Joins the launcher's ranks (see connect_ranks). A collective that waits longer than
  // `timeout_seconds` for the other ranks ends the job.
  DataParallel(Device device, double timeout_seconds);

  int rank() const { return communicator_->rank(); }
  int ranks() const { return communicator_->size(); }
  bool is_main() const { return communicator_->is_main(); }  // rank 0: logs, pictures, checkpoints
  // "1 process", or "2 ranks (MPI (Open MPI v4.1.4)), all-reduce timeout 600 s".
  std::string describe() const;
  // Where this rank reports: `out` itself without a launcher; on rank 0 of a launcher's ranks
  // `out`'s buffer in plain lines (a launcher forwards output through a pseudo-terminal even
  // into a file, so the progress line must not redraw itself); elsewhere a stream that drops
  // what it is given.
  std::ostream& output(std::ostream& out);

  // The CPU threads of each rank when --threads is 0: the cores this rank may use, shared
  // with the other ranks on its machine.
  void share_cores() const;
  // The videos of --data, listed by rank 0 before the others: it writes the listing cache,
  // which the others then read rather than write at the same time. Throws when the ranks see
  // different videos (machines without the same frame folders).
  VideoDataset open_videos(const std::function<VideoDataset()>& open) const;
  // This rank's share of the loader's global batches.
  void shard(PairLoaderOptions& options) const;
  // This rank's rows of the masks drawn from `gen` for the global batch of ranks x `batch`.
  PairMasks sample_masks(const SiamMAE& model, int64_t batch, Generator& gen) const;

  // What the ranks agreed on after a step's backward pass.
  struct Agreement {
    double loss = 0;     // the mean of the ranks' losses: the global batch's loss
    bool stop = false;   // some rank was asked to stop (SIGINT, SIGTERM)
  };
  // Averages every gradient of `model`, the loss and the stop request over the ranks (one
  // all-reduce). With one rank it returns them as they are.
  Agreement average(const SiamMAE& model, double loss, bool stop_requested, int64_t step);
  // Whether to stop, given whether this rank was `signalled`: alone, at once; with several
  // ranks, when the last all-reduce said some rank was (a rank that stopped alone would leave
  // the others waiting for it).
  bool should_stop(bool signalled) const { return ranks() == 1 ? signalled : agreed_stop_; }

  // Throws, naming `when` ("at the start", "after step 6"), when the ranks' parameters differ.
  void check_same_parameters(const SiamMAE& model, const std::string& when) const;

 private:
  std::unique_ptr<Communicator> communicator_;
  bool launched_;  // by a launcher (even as its only rank)
  double timeout_seconds_;
  std::ostream forwarded_{nullptr};  // see output()
  std::unique_ptr<GradientAverager> averager_;  // made at the first step, for the model's parameters
  bool agreed_stop_ = false;
};

}  // namespace sm
