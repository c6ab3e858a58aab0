// Full-batch training of a classifier, the loop of examples 03, 04 and 08: every step runs the
// model on all the examples, takes the cross-entropy with their labels, and lets the optimizer
// move the parameters along the gradient.
#pragma once

#include <vector>

#include "nn/nn.h"

// `steps` steps of `optimizer` on cross_entropy(model.forward(inputs), labels); each step's loss.
template <typename Model>
std::vector<double> fit_classifier(Model& model, sm::Optimizer& optimizer, const sm::Tensor& inputs,
                                   const sm::Tensor& labels, int steps) {
  std::vector<double> losses;
  for (int step = 0; step < steps; ++step) {
    sm::Tensor loss = sm::cross_entropy(model.forward(inputs), labels);  // ()
    optimizer.zero_grad();  // gradients accumulate: clear the last step's
    loss.backward();        // d loss / d parameter, into each parameter's .grad
    optimizer.step();       // the update, under no-grad
    losses.push_back(loss.item());
  }
  return losses;
}
