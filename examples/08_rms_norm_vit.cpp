// Example 8: a layer of your own in a ViT. RMSNorm is the layer docs/adding-a-layer.md adds,
// twice: first built from existing ops (nn/rms_norm.cpp), then as one fused op with its own
// kernels (rms_norm in autograd/functions.h). Here: what it computes, the two versions side
// by side, and the ViT of example 04 with RMSNorm in place of every LayerNorm, learning the
// same pictures.
//   build/examples/08_rms_norm_vit
#include <iostream>

#include "examples/loss_curve.h"
#include "examples/pictures.h"
#include "examples/training.h"

using namespace sm;

int main() {
  manual_seed(0);

  // 1. What it computes: each token's channels divided by their root mean square, so every
  //    row comes out with RMS 1 (times the weight, which starts at ones).
  Tensor x = randn({2, 3, 8}) * 3.0 + 1.0;  // (B, N, C)
  RMSNorm norm(8);                          // weight (8)
  Tensor y = norm.forward(x);               // (B, N, C)
  std::cout << "RMS of each input row:\n" << sqrt(mean(x * x, {-1})) << "\nand of each output row:\n"
            << sqrt(mean(y * y, {-1})) << "\n";

  // 2. The composite (six ops, each a node of the graph that autograd differentiates) and
  //    the fused op (one node, one kernel each way) give the same numbers.
  Tensor composite = rms_norm_composite(x, norm.weight, norm.eps);  // (B, N, C)
  const double difference = max(abs(composite - y).reshape({-1}), 0).item();
  std::cout << "largest difference, composite vs fused: " << difference << "; last node: '"
            << composite.grad_fn()->name() << "' vs '" << y.grad_fn()->name() << "'\n\n";

  // 3. In a ViT: ViTConfig::norm picks the norm of every block and of the final norm.
  Generator gen(1);
  const PictureSet set = make_pictures(gen);  // (12, 3, 32, 32) pictures of 4 kinds, as in example 04
  ViTConfig config;
  config.image_size = kSize, config.patch_size = 8, config.dim = 64, config.depth = 2, config.heads = 4;
  const int64_t with_layer_norm = TinyClassifier(config).parameter_count();
  config.norm = NormKind::RMSNorm;
  TinyClassifier model(config);
  std::cout << "the norms of block 0:";
  for (const auto& [name, p] : model.named_parameters())
    if (name.find("blocks.0.norm") != std::string::npos) std::cout << " " << name << " " << shape_str(p.shape());
  // No bias in 2 norms per block and the final one: 5 x 64 parameters fewer.
  const int64_t fewer = with_layer_norm - model.parameter_count();
  std::cout << "\n" << model.parameter_count() << " parameters, " << fewer << " fewer than with LayerNorm\n";

  AdamW optimizer(decay_groups(model, 0.05), {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95});
  const std::vector<double> losses = fit_classifier(model, optimizer, set.images, set.kinds, 150);
  print_loss_curve(losses);

  NoGradGuard no_grad;
  const Tensor right = eq(argmax(model.forward(set.images), 1), set.kinds);  // (12) 1 where right
  const int64_t correct = static_cast<int64_t>(sum(to_dtype(right, DType::F32)).item());
  std::cout << "final loss " << losses.back() << ", " << correct << " of " << set.kinds.size(0) << " right\n";
  const bool ok = difference < 1e-5 && fewer == (2 * config.depth + 1) * config.dim && correct == set.kinds.size(0);
  return ok ? 0 : 1;
}
