// Losses.
#pragma once

#include "autograd/functions.h"

namespace sm {

// mean((pred - target)^2) over all elements.
Tensor mse_loss(const Tensor& pred, const Tensor& target);
// MAE's masked loss: the squared error averaged over the last dim, then a weighted mean over
// the rest with `mask` (shape of pred without its last dim; 1 = counts, 0 = ignored):
// sum(mean_last((pred - target)^2) * mask) / sum(mask).
Tensor masked_mse_loss(const Tensor& pred, const Tensor& target, const Tensor& mask);
// Mean negative log-likelihood of the target classes: logits (N, C), target int64 (N).
Tensor cross_entropy(const Tensor& logits, const Tensor& target);

}  // namespace sm
