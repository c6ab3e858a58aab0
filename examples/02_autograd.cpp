// Example 2: autograd. Build a small graph, run backward, check it with gradcheck, and
// print the graph in graphviz format.
//   build/examples/02_autograd > graph.dot && dot -Tpng graph.dot -o graph.png
#include <iostream>

#include "autograd/autograd.h"

using namespace sm;

int main() {
  // A one-layer regression: loss = mean((tanh(x @ w + b) - y)^2).
  manual_seed(0);
  Tensor x = randn({8, 3});                              // (B, C_in)
  Tensor y = randn({8, 1});                              // (B, 1)
  Tensor w = randn({3, 1}, {.requires_grad = true});     // (C_in, 1)
  Tensor b = zeros({1}, {.requires_grad = true});        // (1)

  for (int step = 0; step < 50; ++step) {
    Tensor prediction = tanh(matmul(x, w) + b);          // (B, 1)
    Tensor loss = mean(pow(prediction - y, 2.0));        // ()
    w.zero_grad();
    b.zero_grad();
    loss.backward();
    {
      NoGradGuard no_grad;  // the update itself is not part of any graph
      w = (w - w.grad() * 0.5).detach().requires_grad_();
      b = (b - b.grad() * 0.5).detach().requires_grad_();
    }
    if (step % 10 == 0) std::cerr << "step " << step << " loss " << loss.item() << "\n";
  }

  // gradcheck compares autograd with finite differences (in float64).
  Tensor xd = randn({4, 3}, {.dtype = DType::F64, .requires_grad = true});
  GradcheckResult check = gradcheck(
      [](const std::vector<Tensor>& in) { return softmax(in[0] * in[0], -1); }, {xd});
  std::cerr << "gradcheck of softmax(x * x): " << (check.ok ? "ok" : check.message)
            << " (max error " << check.max_abs_error << ")\n";

  // The graph of the last loss, as DOT text on stdout.
  Tensor loss = mean(pow(tanh(matmul(x, w) + b) - y, 2.0));
  std::cout << graph_dot(loss);
  return check.ok ? 0 : 1;  // non-zero if gradcheck fails, so the example doubles as a test
}
