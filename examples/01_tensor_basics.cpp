// Example 1: tensors. Creation, views that share memory, broadcasting, reductions, matmul.
//   build/examples/01_tensor_basics
#include <iostream>

#include "autograd/autograd.h"

using namespace sm;

int main() {
  Tensor x = arange(0, 12).reshape({3, 4});  // (3, 4)
  std::cout << "x = " << x << "\n";
  std::cout << "shape " << shape_str(x.shape()) << ", strides " << shape_str(x.strides()) << "\n\n";

  // A transpose is a view: same storage, swapped strides, no copy.
  Tensor xt = x.t();  // (4, 3)
  std::cout << "x.t() strides " << shape_str(xt.strides()) << ", contiguous? " << xt.is_contiguous()
            << ", shares storage? " << (xt.storage() == x.storage()) << "\n";
  // Writing through a view changes the original.
  xt.narrow(0, 0, 1).data<float>()[0] = 100;
  const bool shared = x.to_vector<float>()[0] == 100;
  std::cout << "after writing 100 through the view, x[0][0] = " << x.to_vector<float>()[0] << "\n\n";

  // Broadcasting: (3, 4) + (4) adds the row to every row.
  Tensor row = from_vector(std::vector<float>{1, 2, 3, 4});  // (4)
  std::cout << "x + row = " << x + row << "\n";
  // Reductions over any dims, with keepdim.
  std::cout << "sum over dim 1 = " << sum(x, {1}) << "\n";
  std::cout << "mean over dim 0 (keepdim) = " << mean(x, {0}, true) << "\n\n";

  // Matrix products, batched with broadcast batch dims.
  manual_seed(0);
  Tensor a = randn({2, 3, 4}), b = randn({4, 5});  // (2, 3, 4) @ (4, 5) -> (2, 3, 5)
  std::cout << "randn (2, 3, 4) @ randn (4, 5) has shape " << shape_str(matmul(a, b).shape()) << "\n";

  // Mistakes produce one clear line.
  bool caught = false;
  try {
    matmul(zeros({4, 8}), zeros({6, 3}));
  } catch (const Error& e) {
    std::cout << "error: " << e.what() << "\n";
    caught = true;
  }
  return shared && caught ? 0 : 1;  // non-zero if the view copied or the mistake went unnoticed (a test)
}
