// Data-parallel gradients: every rank computes the gradients of its own share of the batch,
// then one all-reduce per step turns them into the mean over the ranks, so that every rank
// applies the same update to the same parameters.
#pragma once

#include <string>
#include <vector>

#include "dist/communicator.h"

namespace sm {

class GradientAverager {
 public:
  // `params`: the parameters whose gradients are averaged, in the same order on every rank.
  GradientAverager(Communicator& communicator, std::vector<Tensor> params);

  // Call after backward(). Each parameter's gradient becomes the mean over the ranks (a view
  // into one flat buffer), and so does each of `scalars` (the loss, a stop request, ...),
  // returned in the same order; all of them travel in that one buffer, in float32. A
  // parameter without a gradient counts as zeros and is left without one (the same graph
  // on every rank leaves out the same ones). With one rank nothing is copied or changed.
  std::vector<double> average(const std::vector<double>& scalars, const std::string& what);

  // The number of gradient elements in the buffer (what each step sends, in float32).
  int64_t gradient_elements() const { return elements_; }

 private:
  Communicator& communicator_;
  std::vector<Tensor> params_;
  int64_t elements_ = 0;
  Tensor flat_;  // (elements + scalars) on the parameters' device
};

// A 64-bit fingerprint of the tensors' bytes (copied to the host): the same on every rank
// exactly when the ranks hold the same values, with overwhelming probability.
uint64_t fingerprint(const std::vector<Tensor>& tensors);
// The same for texts (e.g. file names).
uint64_t fingerprint(const std::vector<std::string>& texts);

}  // namespace sm
