// Example 5: SiamMAE end to end on one batch. Two "frames" of a square moving right; the
// model sees the first whole and a quarter of the second, and learns to reconstruct the rest
// of the second. Overfitting one batch is the first check of any new model: the loss must
// fall to near zero. Shows the config, the masks, the forward pass, the loss and AdamW.
//   build/examples/05_siammae_one_batch
#include <iostream>

#include "examples/loss_curve.h"
#include "models/siammae/model.h"
#include "nn/optim/optimizer.h"

using namespace sm;

// A batch of (B, 3, 32, 32) frames: a bright square on a dark background, at column `x`.
static Tensor frames(const std::vector<int64_t>& x_of_each) {
  const int64_t b = static_cast<int64_t>(x_of_each.size());
  std::vector<float> pixels(b * 3 * 32 * 32, -1.0f);
  for (int64_t i = 0; i < b; ++i)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 8; y < 20; ++y)
        for (int64_t x = x_of_each[i]; x < x_of_each[i] + 12; ++x) pixels[((i * 3 + c) * 32 + y) * 32 + x] = 1.0f + c;
  return from_vector(pixels, {b, 3, 32, 32});
}

int main() {
  SiamMAEConfig config = siammae_preset("micro");  // 32 px, 8 px patches: 16 patches per frame
  config.encoder_dim = 64, config.encoder_heads = 4, config.decoder_dim = 64, config.decoder_heads = 4;
  Generator gen(0);
  SiamMAE model(config, &gen);
  std::cout << "SiamMAE with " << model.parameter_count() << " parameters; the first few by name:\n";
  for (const auto& [name, p] : model.named_parameters())
    if (name.find("blocks.0.") != std::string::npos || name.find("decoder_blocks.0.cross") != std::string::npos)
      std::cout << "  " << name << " " << shape_str(p.shape()) << "\n";

  Tensor f1 = frames({2, 6, 10, 14}), f2 = frames({6, 10, 14, 18});  // (4, 3, 32, 32): the square moved 4 px
  const PairMasks masks = model.sample_masks(4, gen);                  // f2 keeps 4 of its 16 patches
  std::cout << "visible f2 patches of the first pair: " << masks.f2.ids_keep.narrow(0, 0, 1) << "\n";

  AdamW optimizer(decay_groups(model, 0.05), {.lr = 3e-3, .beta1 = 0.9, .beta2 = 0.95});
  std::vector<double> losses;
  const int steps = 250;
  for (int step = 0; step < steps; ++step) {
    // The learning rate decays along a half cosine: at a constant 3e-3 the loss keeps
    // bouncing near its floor, and where it stops would depend on rounding.
    optimizer.set_lr(warmup_cosine_lr(step, 0, steps, 3e-3, 0));
    SiamMAEOutput out = model.forward(f1, f2, masks);  // loss (), prediction (4, 16, 192), mask (4, 16)
    optimizer.zero_grad();
    out.loss.backward();
    optimizer.step();
    losses.push_back(out.loss.item());
  }
  print_loss_curve(losses);
  std::cout << "loss " << losses.front() << " -> " << losses.back() << "\n";
  return losses.back() < 0.05 * losses.front() ? 0 : 1;
}
