// Shapes and strides: counted in elements, outermost dimension first (PyTorch order).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace sm {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
// "(4, 8)"; a scalar's shape prints as "()".
std::string shape_str(const Shape& shape);
// Turns a possibly negative dim into 0..rank-1, throwing "[op] dim d out of range for shape ...".
int64_t normalize_dim(int64_t dim, int64_t rank, const char* op);
// The broadcast of two shapes by NumPy/PyTorch rules, or "[op] shapes ... cannot be broadcast".
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

struct ShapePrinter { const Shape& shape; };
std::ostream& operator<<(std::ostream& os, const ShapePrinter& p);
inline ShapePrinter fmt(const Shape& shape) { return {shape}; }

}  // namespace sm
