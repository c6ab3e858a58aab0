// Parameter initializers, in place (like torch.nn.init). Values are drawn on the host from
// a seeded Generator (the default one when none is given), so inits are reproducible.
#pragma once

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace sm::init {

void zeros_(const Tensor& t);
void ones_(const Tensor& t);
void uniform_(const Tensor& t, double low, double high, Generator* gen = nullptr);
void normal_(const Tensor& t, double mean, double std, Generator* gen = nullptr);
// Normal(mean, std) redrawn until it falls inside [a, b] (timm's trunc_normal_ default a=-2, b=2).
void trunc_normal_(const Tensor& t, double std, double a = -2, double b = 2, Generator* gen = nullptr);
// U(-r, r) with r = gain * sqrt(6 / (fan_in + fan_out)); fans as PyTorch computes them:
// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field.
void xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// PyTorch's default Linear weight init: kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void kaiming_uniform_linear_(const Tensor& t, Generator* gen = nullptr);

}  // namespace sm::init
