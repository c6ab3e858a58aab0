// Node: one recorded op in the autograd graph.
//
// When a differentiable op runs with grad mode on and an input requires grad, it creates
// a Node holding (1) one Edge per input, pointing at the node that made that input (or at
// the input itself when it is a leaf), and (2) its backward rule: a function from the
// gradient of the op's output to the gradients of its inputs. The rule keeps the tensors
// it needs as detached aliases, never the op's own output handle (that would be a cycle).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace sm {

struct Edge {
  std::shared_ptr<Node> node;         // the producer of a non-leaf input
  std::shared_ptr<TensorImpl> leaf;   // a leaf input that requires grad
  bool active() const { return node || leaf; }
};

class Node {
 public:
  // Gradients of the inputs, in input order; an undefined Tensor means "no gradient".
  using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;
  // The same, told which inputs need a gradient (needs[i]: input i requires grad). A rule may
  // leave the others undefined and skip their work: the input gradient of a layer whose
  // input is data, or the gradient of a fixed table that was added in.
  using SelectiveBackwardFn =
      std::function<std::vector<Tensor>(const Tensor& grad_output, const std::vector<bool>& needs)>;

  Node(std::string name, std::vector<Edge> inputs, SelectiveBackwardFn backward, Shape output_shape,
       DType output_dtype);
  ~Node();  // releases long chains of nodes without recursion

  const std::string& name() const { return name_; }
  const std::vector<Edge>& inputs() const { return inputs_; }
  const Shape& output_shape() const { return output_shape_; }
  DType output_dtype() const { return output_dtype_; }
  std::vector<Tensor> backward(const Tensor& grad_output) const { return backward_(grad_output, needs_); }

 private:
  std::string name_;
  std::vector<Edge> inputs_;
  std::vector<bool> needs_;  // inputs_[i].active(), kept for the rule
  SelectiveBackwardFn backward_;
  Shape output_shape_;
  DType output_dtype_;
};

// Grad mode: when off, ops record nothing (inference, optimizer updates).
bool grad_enabled();
void set_grad_enabled(bool enabled);

// Turns recording off for its lifetime (like `with torch.no_grad():`).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Attaches `out` to the graph: if grad mode is on and any input requires grad, out gets a
// Node named `name` with `backward` as its rule. Returns out. Used by every op; ops whose rule
// can skip the work for inputs that need no gradient pass a SelectiveBackwardFn.
Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, Node::BackwardFn backward);
Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, Node::SelectiveBackwardFn backward);

// A DOT (graphviz) description of the graph that produced `root`, for teaching:
// `dot -Tpng graph.dot -o graph.png`.
std::string graph_dot(const Tensor& root);

}  // namespace sm
