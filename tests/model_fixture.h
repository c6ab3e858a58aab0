// The micro SiamMAE and its PyTorch twin's results (tests/reference/make_model_fixtures.py):
// shared by the model tests on the CPU (test_model.cpp) and on the GPU (test_cuda.cpp).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "autograd/autocast.h"
#include "models/siammae/model.h"
#include "nn/nn.h"
#include "tests/fixtures.h"

namespace sm::test {

struct MicroFixture {
  StateDict weights, inputs, expected;
  MicroFixture()
      : weights(load_safetensors(source_path("tests/reference/siammae_micro_weights.safetensors")).tensors),
        inputs(load_safetensors(source_path("tests/reference/siammae_micro_inputs.safetensors")).tensors),
        expected(load_safetensors(source_path("tests/reference/siammae_micro_expected.safetensors")).tensors) {}
};

// The micro model with the fixture's weights, in `dtype`, on `device`.
inline std::unique_ptr<SiamMAE> micro_model(const MicroFixture& fx, DType dtype,
                                            SiamMAEConfig config = siammae_preset("micro"),
                                            Device device = Device::CPU) {
  auto model = std::make_unique<SiamMAE>(config);
  model->to(dtype);
  model->load_state_dict(fx.weights, config.decoder == DecoderKind::CrossSelf);  // ablations use a subset
  model->to(device);
  return model;
}

// max |actual - expected| / max |expected| over the tensor: the error relative to the tensor's scale.
inline double relative_error(const Tensor& actual, const Tensor& expected) {
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  REQUIRE(a.size() == e.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - e[i]));
    scale = std::max(scale, std::abs(e[i]));
  }
  return scale == 0 ? diff : diff / scale;
}

// The fixture's mask of f2 (PyTorch's ids_shuffle), on the model's device.
inline PairMasks fixture_masks(const MicroFixture& fx, const SiamMAE& model) {
  PairMasks masks;
  masks.f2 = mask_from_shuffle(fx.inputs.at("ids_shuffle"), 4, model.mask_token);
  return masks;
}

// Loss and gradients of `model` on the fixture's frames (in `dtype`, on the model's device)
// with the given masks.
inline Tensor loss_with_grads(SiamMAE& model, const MicroFixture& fx, const PairMasks& masks, DType dtype) {
  const Device device = model.mask_token.device();
  model.zero_grad();
  SiamMAEOutput out = model.forward(to_dtype(fx.inputs.at("f1"), dtype).to(device),
                                    to_dtype(fx.inputs.at("f2"), dtype).to(device), masks);
  out.loss.backward();
  return out.loss;
}

// Compares every gradient with expected["<prefix>grad.<name>"]; returns the worst relative
// error of the encoder's and the decoder's parameters.
inline std::map<std::string, double> compare_grads(const SiamMAE& model, const StateDict& expected,
                                                   const std::string& prefix, double tolerance) {
  std::map<std::string, double> worst{{"encoder", 0.0}, {"decoder", 0.0}};
  for (const auto& [name, p] : model.named_parameters()) {
    CAPTURE(name);
    REQUIRE(p.grad().defined());
    const double error = relative_error(p.grad(), expected.at(prefix + "grad." + name));
    CHECK(error <= tolerance);
    const bool decoder = name.starts_with("decoder") || name == "mask_token";
    double& group = worst[decoder ? "decoder" : "encoder"];
    group = std::max(group, error);
  }
  return worst;
}

// Mixed precision (bfloat16 autocast, autograd/autocast.h) against PyTorch's float32 results:
// the largest relative errors of the loss, of any gradient (relative to that gradient's
// scale), and of the losses of 10 AdamW steps. bfloat16 keeps 8 significant bits (a relative
// rounding of 2^-9 = 0.2 %) of every product's operands (matmul and attention). Measured on
// the CPU: loss 5e-4, trajectory 5e-4, gradients up to 3.1 % (the worst: cls_token and the
// first norms, whose gradients pass through every block). The tolerances leave room for the
// GPU's other summation order.
struct MixedPrecisionErrors {
  double loss = 0, gradient = 0, trajectory = 0;
};
constexpr double kBfloat16LossTolerance = 0.01, kBfloat16GradientTolerance = 0.08;

inline MixedPrecisionErrors bfloat16_errors(const MicroFixture& fx, Device device) {
  MixedPrecisionErrors errors;
  auto model = micro_model(fx, DType::F32, siammae_preset("micro"), device);
  const PairMasks masks = fixture_masks(fx, *model);
  auto mixed_step = [&] {
    model->zero_grad();
    Tensor loss;
    {
      AutocastGuard autocast;
      loss = model->forward(to_dtype(fx.inputs.at("f1"), DType::F32).to(device),
                            to_dtype(fx.inputs.at("f2"), DType::F32).to(device), masks)
                 .loss;
    }
    loss.backward();  // outside the guard, as in PyTorch: the products keep their precision
    return loss;
  };
  errors.loss = relative_error(mixed_step(), fx.expected.at("loss"));
  for (const auto& [name, p] : model->named_parameters())
    errors.gradient = std::max(errors.gradient, relative_error(p.grad(), fx.expected.at("grad." + name)));
  model = micro_model(fx, DType::F32, siammae_preset("micro"), device);
  AdamW optimizer(decay_groups(*model, 0.05), {.lr = 2e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8});
  const std::vector<double> expected = fx.expected.at("adamw_losses").to_vector<double>();
  for (double target : expected) {
    const double loss = mixed_step().item();
    optimizer.step();
    errors.trajectory = std::max(errors.trajectory, std::abs(loss - target) / std::abs(target));
  }
  return errors;
}

}  // namespace sm::test
