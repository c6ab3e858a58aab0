// Example 3: an MLP learns a 2-D toy problem (two interleaved spirals) with AdamW.
// Shows Module, Linear, cross_entropy, the training loop (examples/training.h), and a loss curve.
//   build/examples/03_mlp
#include <cmath>
#include <iostream>
#include <numbers>

#include "examples/loss_curve.h"
#include "examples/training.h"

using namespace sm;

// Two arms of a spiral, one per class: the classic problem a linear model cannot solve.
static void make_spirals(int64_t n, Tensor& points, Tensor& labels) {
  std::vector<float> xy;
  std::vector<int64_t> cls;
  for (int64_t i = 0; i < n; ++i) {
    const double r = 0.1 + 0.9 * static_cast<double>(i / 2) / static_cast<double>(n / 2);  // radius grows along the arm
    const double angle = 3.0 * std::numbers::pi * r + (i % 2) * std::numbers::pi;
    xy.push_back(static_cast<float>(r * std::cos(angle)));
    xy.push_back(static_cast<float>(r * std::sin(angle)));
    cls.push_back(i % 2);
  }
  points = from_vector(xy, {n, 2});  // (N, 2)
  labels = from_vector(cls);         // (N) int64
}

class SpiralNet : public Module {
 public:
  SpiralNet() {
    fc1 = register_module("fc1", std::make_shared<Linear>(2, 64));
    fc2 = register_module("fc2", std::make_shared<Linear>(64, 64));
    fc3 = register_module("fc3", std::make_shared<Linear>(64, 2));
  }
  Tensor forward(const Tensor& x) const {                 // (N, 2) -> (N, 2) logits
    Tensor h = gelu(fc1->forward(x));                     // (N, 64)
    h = gelu(fc2->forward(h));                            // (N, 64)
    return fc3->forward(h);
  }
  std::shared_ptr<Linear> fc1, fc2, fc3;
};

int main() {
  manual_seed(0);
  Tensor points, labels;
  make_spirals(200, points, labels);
  SpiralNet net;
  std::cout << "SpiralNet with " << net.parameter_count() << " parameters:\n";
  for (const auto& [name, p] : net.named_parameters()) std::cout << "  " << name << " " << shape_str(p.shape()) << "\n";

  AdamW optimizer(decay_groups(net, 1e-4), {.lr = 1e-2});
  const std::vector<double> losses = fit_classifier(net, optimizer, points, labels, 500);  // the loop: training.h
  print_loss_curve(losses);

  NoGradGuard no_grad;
  Tensor predicted = argmax(net.forward(points), 1);  // (N) int64
  const double accuracy = mean(eq(predicted.to(DType::F32), labels.to(DType::F32))).item();
  std::cout << "final loss " << losses.back() << ", training accuracy " << 100 * accuracy << " %\n";
  return accuracy > 0.99 ? 0 : 1;
}
