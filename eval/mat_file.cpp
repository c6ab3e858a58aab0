#include "eval/mat_file.h"

#include <cstdlib>
#include <cstring>

#include "data/deflate.h"
#include "data/files.h"
#include "tensor/error.h"

namespace sm {

namespace {

// Data element types (the MAT-file format's "mi" codes) and array classes ("mx" codes).
enum : uint32_t {
  miINT8 = 1, miUINT8 = 2, miINT16 = 3, miUINT16 = 4, miINT32 = 5, miUINT32 = 6, miSINGLE = 7, miDOUBLE = 9,
  miINT64 = 12, miUINT64 = 13, miMATRIX = 14, miCOMPRESSED = 15,
};
constexpr uint32_t mxDOUBLE_CLASS = 6, mxUINT64_CLASS = 15;  // 6..15 are the numeric classes
constexpr uint32_t kComplexFlag = 0x800;
// A compressed variable may inflate to at most this much (a few KB of zlib data can claim
// gigabytes); JHMDB's arrays take kilobytes. MATLAB never nests compressed elements deeper.
constexpr size_t kMaxInflated = size_t{256} << 20;
constexpr int kMaxNesting = 2;

template <typename T> T load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));  // elements need not be aligned
  return value;
}

struct Element {
  uint32_t type = 0;
  const uint8_t* data = nullptr;
  uint32_t size = 0;
};

// Walks the data elements of a byte range, checking every length against its end.
class ElementReader {
 public:
  ElementReader(const uint8_t* begin, const uint8_t* end, const std::string& path)
      : pos_(begin), end_(end), path_(path) {}
  bool done() const { return pos_ >= end_; }

  Element next() {
    need(8, "a data element tag");
    Element e;
    const uint32_t word = load<uint32_t>(pos_);
    if (word >> 16) {  // small element: type and size in one word, data in the next 4 bytes
      e = {word & 0xffff, pos_ + 4, word >> 16};
      check(e.size <= 4, "mat", path_, ": small data element of ", e.size, " bytes");
      pos_ += 8;
      return e;
    }
    e = {word, pos_ + 8, load<uint32_t>(pos_ + 4)};
    pos_ += 8;
    need(e.size, "a data element");
    // Compressed elements are not padded; all others end on an 8-byte boundary.
    const uint64_t padded = e.type == miCOMPRESSED ? e.size : (e.size + 7) / 8 * 8;
    pos_ += std::min<uint64_t>(padded, end_ - pos_);
    return e;
  }

 private:
  void need(uint64_t bytes, const char* what) const {
    check(static_cast<uint64_t>(end_ - pos_) >= bytes, "mat", path_, ": file ends inside ", what);
  }
  const uint8_t* pos_;
  const uint8_t* end_;
  const std::string& path_;
};

// The values of a numeric data element, as doubles.
std::vector<double> numbers(const Element& e, const std::string& path) {
  auto convert = [&]<typename T>(T) {
    std::vector<double> out(e.size / sizeof(T));
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(load<T>(e.data + i * sizeof(T)));
    return out;
  };
  switch (e.type) {
    case miINT8: return convert(int8_t{});
    case miUINT8: return convert(uint8_t{});
    case miINT16: return convert(int16_t{});
    case miUINT16: return convert(uint16_t{});
    case miINT32: return convert(int32_t{});
    case miUINT32: return convert(uint32_t{});
    case miSINGLE: return convert(float{});
    case miDOUBLE: return convert(double{});
    case miINT64: return convert(int64_t{});
    case miUINT64: return convert(uint64_t{});
    default: fail("mat", path, ": data type ", e.type, " is not numeric");
  }
}

// Adds the variable of a miMATRIX element to `out` when it is a real numeric array.
void read_matrix(const Element& matrix, const std::string& path, std::map<std::string, MatArray>& out) {
  ElementReader parts(matrix.data, matrix.data + matrix.size, path);
  const Element flags = parts.next();
  check(flags.type == miUINT32 && flags.size >= 4, "mat", path, ": array flags missing");
  const uint32_t word = load<uint32_t>(flags.data), array_class = word & 0xff;
  if (array_class < mxDOUBLE_CLASS || array_class > mxUINT64_CLASS || (word & kComplexFlag)) return;
  const Element dims = parts.next(), name = parts.next(), real = parts.next();
  check(dims.type == miINT32 && name.type == miINT8, "mat", path, ": malformed array header");
  MatArray array;
  int64_t count = 1;
  for (double d : numbers(dims, path)) {
    check(d >= 0 && d <= INT32_MAX, "mat", path, ": a dimension of ", d);  // miINT32 sizes
    array.dims.push_back(static_cast<int64_t>(d));
    check(!__builtin_mul_overflow(count, array.dims.back(), &count), "mat", path, ": dimensions overflow");
  }
  array.values = numbers(real, path);
  const std::string variable(reinterpret_cast<const char*>(name.data), name.size);
  check(static_cast<int64_t>(array.values.size()) == count, "mat", path, ": variable ", variable, " holds ",
        array.values.size(), " values for ", count, " elements");
  out[variable] = std::move(array);
}

void read_elements(const uint8_t* begin, const uint8_t* end, const std::string& path,
                   std::map<std::string, MatArray>& out, int depth = 0) {
  ElementReader reader(begin, end, path);
  while (!reader.done()) {
    const Element e = reader.next();
    if (e.type == miMATRIX) {
      read_matrix(e, path, out);
    } else if (e.type == miCOMPRESSED) {
      check(depth < kMaxNesting, "mat", path, ": compressed elements nested ", depth + 1, " deep");
      std::vector<uint8_t> inflated;
      check(zlib_inflate(e.data, e.size, kMaxInflated, inflated) && inflated.size() < kMaxInflated, "mat", path,
            inflated.size() < kMaxInflated ? ": a compressed element does not inflate (corrupt zlib data)"
                                           : ": a compressed element inflates to more than 256 MB");
      read_elements(inflated.data(), inflated.data() + inflated.size(), path, out, depth + 1);
    }
  }
}

}  // namespace

double MatArray::at(const std::vector<int64_t>& index) const {
  check(index.size() == dims.size(), "mat", "index of ", index.size(), " dims for an array of ", dims.size());
  int64_t flat = 0;
  for (size_t d = index.size(); d-- > 0;) {
    check(index[d] >= 0 && index[d] < dims[d], "mat", "index ", index[d], " out of range for dim ", d, " of size ",
          dims[d]);
    flat = flat * dims[d] + index[d];
  }
  return values[flat];
}

std::map<std::string, MatArray> read_mat_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path, "mat");
  check(bytes.size() >= 128, "mat", path, ": too short for a MAT-file header (", bytes.size(), " bytes)");
  const std::string text(bytes.begin(), bytes.begin() + 116);
  check(text.rfind("MATLAB 7.3", 0) != 0, "mat", path, ": MATLAB 7.3 (HDF5) files are not supported; save with -v7");
  check(text.starts_with("MATLAB"), "mat", path, ": not a MAT-file (no 'MATLAB' header)");
  check(bytes[126] == 'I' && bytes[127] == 'M', "mat", path,
        bytes[126] == 'M' ? ": big-endian MAT-files are not supported" : ": no endian mark; not a MAT v5 file");
  std::map<std::string, MatArray> out;
  read_elements(bytes.data() + 128, bytes.data() + bytes.size(), path, out);
  return out;
}

MatArray read_mat_array(const std::string& path, const std::string& name) {
  std::map<std::string, MatArray> arrays = read_mat_file(path);
  auto found = arrays.find(name);
  if (found == arrays.end()) {
    std::string names;
    for (const auto& [n, a] : arrays) names += (names.empty() ? "" : ", ") + n;
    fail("mat", path, ": no numeric variable '", name, "' (numeric variables: ", names.empty() ? "none" : names, ")");
  }
  return std::move(found->second);
}

}  // namespace sm
