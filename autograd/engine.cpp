// The backward engine: graph nodes in topological order, gradients accumulated per node.
#include <deque>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "autograd/functions.h"
#include "autograd/node.h"

namespace sm {

// ---- grad mode ----
static thread_local bool grad_mode = true;
bool grad_enabled() { return grad_mode; }
void set_grad_enabled(bool enabled) { grad_mode = enabled; }

// ---- nodes ----
Node::Node(std::string name, std::vector<Edge> inputs, SelectiveBackwardFn backward, Shape output_shape,
           DType output_dtype)
    : name_(std::move(name)),
      inputs_(std::move(inputs)),
      needs_(inputs_.size()),
      backward_(std::move(backward)),
      output_shape_(std::move(output_shape)),
      output_dtype_(output_dtype) {
  for (size_t i = 0; i < inputs_.size(); ++i) needs_[i] = inputs_[i].active();
}

Node::~Node() {
  // Destroying a 100,000-op chain recursively would overflow the stack. Instead, take
  // over every input node we hold the last reference to, and free them one by one.
  std::vector<std::shared_ptr<Node>> pending;
  for (Edge& edge : inputs_)
    if (edge.node) pending.push_back(std::move(edge.node));
  while (!pending.empty()) {
    std::shared_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    if (node.use_count() == 1)
      for (Edge& edge : node->inputs_)
        if (edge.node) pending.push_back(std::move(edge.node));
  }  // each node dies here with no child nodes left to release
}

Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, Node::BackwardFn backward) {
  if (!grad_enabled()) return out;
  return record(name, std::move(out), inputs,
                [rule = std::move(backward)](const Tensor& g, const std::vector<bool>&) { return rule(g); });
}

Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, Node::SelectiveBackwardFn backward) {
  if (!grad_enabled()) return out;
  bool any = false;
  std::vector<Edge> edges(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    if (!input.defined() || !input.requires_grad()) continue;
    any = true;
    if (input.grad_fn()) {
      edges[i].node = input.grad_fn();
    } else {
      edges[i].leaf = input.impl_ptr();
    }
  }
  if (!any) return out;
  out.impl().requires_grad = true;
  out.impl().grad_fn = std::make_shared<Node>(name, std::move(edges), std::move(backward), out.shape(), out.dtype());
  return out;
}

// ---- tensor autograd methods ----
Tensor& Tensor::requires_grad_(bool on) {
  check(!on || is_floating(dtype()), "requires_grad", "only floating tensors can require grad, got ",
        dtype_name(dtype()));
  check(is_leaf(), "requires_grad", "can only be set on leaf tensors; use detach() first");
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined())
    check(grad.shape() == shape() && grad.dtype() == dtype(), "set_grad", "gradient ", fmt(grad.shape()), " ",
          dtype_name(grad.dtype()), " does not match tensor ", fmt(shape()), " ", dtype_name(dtype()));
  impl().grad = grad.defined() ? grad.impl_ptr() : nullptr;
}

void Tensor::zero_grad() const { impl().grad = nullptr; }

Tensor Tensor::detach() const {
  Tensor alias = make_view(*this, shape(), strides(), offset());
  return alias;
}

// Whether `grad` is the only handle on memory of its own: a tensor a backward rule has just
// made (a weight gradient from its GEMM), not a view of, or alias of, anything else.
static bool owns_its_memory(const Tensor& grad) {
  const TensorImpl& impl = grad.impl();
  const std::size_t nbytes = static_cast<std::size_t>(grad.numel()) * dtype_size(grad.dtype());
  return grad.impl_ptr().use_count() == 1 && impl.storage.use_count() == 1 && grad.is_contiguous() &&
         impl.offset == 0 && impl.storage->nbytes() == nbytes;
}

// Adds `grad` into a leaf's .grad. The first gradient never aliases a tensor of the graph (an
// optimizer may later scale .grad in place): one that owns its memory is adopted as it is,
// any other is copied. Copying every parameter's gradient would cost a pass over all weights.
static void accumulate_into_leaf(TensorImpl& leaf, const Tensor& grad) {
  if (!leaf.grad) {
    leaf.grad = owns_its_memory(grad) ? grad.impl_ptr() : clone(grad).impl_ptr();
  } else {
    leaf.grad = add(Tensor(leaf.grad), grad).impl_ptr();
  }
}

// Adds a gradient into the sum a node is collecting: in place when the engine holds the sum's
// only handle (no new buffer for each residual connection's second gradient), else as a new tensor.
static void accumulate(Tensor& sum, const Tensor& grad) {
  if (!sum.defined()) {
    sum = grad;
  } else if (owns_its_memory(sum)) {
    add_(sum, grad);
  } else {
    sum = add(sum, grad);
  }
}

static void check_gradient(const Tensor& grad, const Shape& shape, DType dtype, const std::string& where) {
  check(grad.shape() == shape && grad.dtype() == dtype, "backward", where, " produced a gradient of shape ",
        fmt(grad.shape()), " ", dtype_name(grad.dtype()), " for a tensor of shape ", fmt(shape), " ",
        dtype_name(dtype));
}

void Tensor::backward(const Tensor& grad_output) const {
  check(requires_grad(), "backward", "tensor does not require grad (no input had requires_grad set)");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    check(numel() == 1, "backward", "without a gradient argument the tensor must have one element, got shape ",
          fmt(shape()));
    seed = ones(shape(), {.dtype = dtype(), .device = device()});
  }
  check_gradient(seed, shape(), dtype(), "the given gradient");
  NoGradGuard no_grad;  // backward rules run as plain computation
  if (is_leaf()) return accumulate_into_leaf(impl(), seed);

  // 1. Find every node reachable from the root and count how many edges point at it.
  //    An explicit stack instead of recursion: graphs can be 100,000 nodes deep.
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack{grad_fn().get()};
  dependencies[grad_fn().get()] = 0;
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& edge : node->inputs()) {
      if (!edge.node) continue;
      auto [it, inserted] = dependencies.try_emplace(edge.node.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(edge.node.get());
    }
  }

  // 2. Run nodes once all their consumers have contributed (Kahn's algorithm), summing
  //    the gradient each node receives from all the places its output was used.
  std::unordered_map<Node*, Tensor> grads{{grad_fn().get(), seed}};
  std::deque<Node*> ready{grad_fn().get()};
  while (!ready.empty()) {
    Node* node = ready.front();
    ready.pop_front();
    Tensor grad = std::move(grads[node]);
    grads.erase(node);
    // A node no gradient reached (its consumers returned no gradient for it) still
    // releases its inputs, so that their other consumers can run.
    std::vector<Tensor> input_grads =
        grad.defined() ? node->backward(grad) : std::vector<Tensor>(node->inputs().size());
    check(input_grads.size() == node->inputs().size(), "backward", node->name(), " returned ", input_grads.size(),
          " gradients for ", node->inputs().size(), " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& edge = node->inputs()[i];
      const Tensor& g = input_grads[i];
      if (!edge.active()) continue;
      if (edge.leaf) {
        if (!g.defined()) continue;
        check_gradient(g, edge.leaf->shape, edge.leaf->dtype, node->name());
        accumulate_into_leaf(*edge.leaf, g);
        continue;
      }
      Node* next = edge.node.get();
      if (g.defined()) {
        check_gradient(g, next->output_shape(), next->output_dtype(), node->name());
        accumulate(grads[next], g);
      }
      if (--dependencies[next] == 0) ready.push_back(next);
    }
  }
}

// ---- graph dump ----
std::string graph_dot(const Tensor& root) {
  std::ostringstream dot;
  dot << "digraph autograd {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n";
  if (!root.grad_fn()) return dot.str() + "}\n";
  std::unordered_map<const void*, int> ids;
  auto id_of = [&](const void* p) {
    auto [it, inserted] = ids.try_emplace(p, static_cast<int>(ids.size()));
    return std::make_pair(it->second, inserted);
  };
  std::vector<Node*> stack{root.grad_fn().get()};
  dot << "  n0 [label=\"" << root.grad_fn()->name() << "\\n" << shape_str(root.shape()) << "\"];\n";
  id_of(root.grad_fn().get());
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    const int node_id = id_of(node).first;
    for (const Edge& edge : node->inputs()) {
      if (!edge.active()) continue;
      const void* key = edge.node ? static_cast<const void*>(edge.node.get()) : edge.leaf.get();
      auto [input_id, inserted] = id_of(key);
      if (inserted) {
        if (edge.node) {
          dot << "  n" << input_id << " [label=\"" << edge.node->name() << "\\n"
              << shape_str(edge.node->output_shape()) << "\"];\n";
          stack.push_back(edge.node.get());
        } else {
          dot << "  n" << input_id << " [label=\"leaf\\n" << shape_str(edge.leaf->shape)
              << "\", style=filled, fillcolor=lightblue];\n";
        }
      }
      dot << "  n" << input_id << " -> n" << node_id << ";\n";
    }
  }
  return dot.str() + "}\n";
}

}  // namespace sm
