#include "nn/init.h"

#include <cmath>
#include <vector>

#include "autograd/functions.h"

namespace sm::init {

// Fills t with values drawn one by one (row-major order).
template <typename Draw> static void fill_with(const Tensor& t, Draw draw) {
  std::vector<double> values(t.numel());
  for (double& v : values) v = draw();
  NoGradGuard no_grad;
  copy_(t, from_vector(values, t.shape(), {.dtype = t.dtype(), .device = t.device()}));
}

static Generator& pick(Generator* gen) { return gen ? *gen : default_generator(); }

void zeros_(const Tensor& t) {
  NoGradGuard no_grad;
  fill_(t, 0);
}

void ones_(const Tensor& t) {
  NoGradGuard no_grad;
  fill_(t, 1);
}

void uniform_(const Tensor& t, double low, double high, Generator* gen) {
  Generator& g = pick(gen);
  fill_with(t, [&] { return low + (high - low) * g.uniform(); });
}

void normal_(const Tensor& t, double mean, double std, Generator* gen) {
  Generator& g = pick(gen);
  fill_with(t, [&] { return mean + std * g.normal(); });
}

void trunc_normal_(const Tensor& t, double std, double a, double b, Generator* gen) {
  check(a < b, "trunc_normal_", "empty interval [", a, ", ", b, "]");
  Generator& g = pick(gen);
  fill_with(t, [&] {
    double v;
    do v = std * g.normal();
    while (v < a || v > b);
    return v;
  });
}

static std::pair<double, double> fans(const Tensor& t, const char* op) {
  check(t.dim() >= 2, op, "needs a tensor of rank >= 2, got shape ", fmt(t.shape()));
  const double receptive = static_cast<double>(t.numel()) / static_cast<double>(t.size(0) * t.size(1));
  return {t.size(1) * receptive, t.size(0) * receptive};
}

void xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  const auto [fan_in, fan_out] = fans(t, "xavier_uniform_");
  const double bound = gain * std::sqrt(6.0 / (fan_in + fan_out));
  uniform_(t, -bound, bound, gen);
}

void kaiming_uniform_linear_(const Tensor& t, Generator* gen) {
  const double bound = 1.0 / std::sqrt(fans(t, "kaiming_uniform_").first);
  uniform_(t, -bound, bound, gen);
}

}  // namespace sm::init
