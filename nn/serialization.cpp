#include "nn/serialization.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

namespace sm {

static const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::BF16: break;  // mixed precision's operands only: checkpoints hold float32
  }
  fail("save_safetensors", "cannot save ", dtype_name(dtype), " tensors; convert them to float32");
}

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata,
                      Durability durability) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> host;  // contiguous CPU copies, in header order
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    check(name != "__metadata__", "save_safetensors", "'__metadata__' cannot name a tensor");
    Tensor t = tensor.detach().to(Device::CPU).contiguous();
    const uint64_t nbytes = t.numel() * dtype_size(t.dtype());
    header[name] = {{"dtype", safetensors_dtype(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    host.push_back(t);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data section starts 8-aligned
  AtomicFile out(path, "save_safetensors", durability);
  const uint64_t header_size = text.size();
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(header_size >> (8 * i));  // little-endian
  out.write(length, 8);
  out.write(text.data(), text.size());
  for (const Tensor& t : host) out.write(t.raw_data(), t.numel() * dtype_size(t.dtype()));
  out.commit();
}

namespace {

// A header entry's "shape": a list of at most kMaxDims sizes >= 0, and the number of bytes
// the tensor needs, or false when that overflows 64 bits (a corrupt or hostile file).
constexpr size_t kMaxDims = 64;
bool checked_bytes(const Shape& shape, DType dtype, uint64_t& bytes) {
  bytes = dtype_size(dtype);
  for (int64_t size : shape)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(size), &bytes)) return false;
  return true;
}

Shape read_shape(const nlohmann::json& j, const std::string& path, const std::string& name) {
  check(j.is_array() && j.size() <= kMaxDims, "load_safetensors", path, ": tensor '", name,
        "' needs a shape of at most ", kMaxDims, " sizes, got ", j.dump().substr(0, 80));
  Shape shape;
  for (const nlohmann::json& size : j) {
    check(size.is_number_integer() && (size.is_number_unsigned() || size.get<int64_t>() >= 0) &&
              size.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX),
          "load_safetensors", path, ": tensor '", name, "' has a negative or non-integer size");
    shape.push_back(size.get<int64_t>());
  }
  return shape;
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  check(in.good(), "load_safetensors", "cannot open ", path);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  check(file_size >= 8, "load_safetensors", path, " is truncated: ", file_size, " bytes, no header length");
  unsigned char length[8];
  in.read(reinterpret_cast<char*>(length), 8);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length[i];
  check(header_size <= file_size - 8, "load_safetensors", path, " is truncated or corrupt: header of ", header_size,
        " bytes in a file of ", file_size);
  std::string text(header_size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_size));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("load_safetensors", path, ": header is not valid JSON (", e.what(), ")");
  }
  check(header.is_object(), "load_safetensors", path, ": header is not a JSON object");

  SafetensorsFile file;
  const uint64_t data_size = file_size - 8 - header_size;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      check(entry.is_object(), "load_safetensors", path, ": __metadata__ is not a JSON object");
      for (const auto& [key, value] : entry.items()) {
        check(value.is_string(), "load_safetensors", path, ": metadata '", key, "' is not a string");
        file.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    try {
      const std::string dtype_text = entry.at("dtype").get<std::string>();
      const Shape shape = read_shape(entry.at("shape"), path, name);
      const nlohmann::json& range = entry.at("data_offsets");
      check(range.is_array() && std::all_of(range.begin(), range.end(),
                                            [](const nlohmann::json& v) { return v.is_number_unsigned(); }),
            "load_safetensors", path, ": tensor '", name, "' data range is not a pair of byte offsets");
      const auto offsets = range.get<std::vector<uint64_t>>();
      DType dtype;
      if (dtype_text == "F32") {
        dtype = DType::F32;
      } else if (dtype_text == "F64") {
        dtype = DType::F64;
      } else if (dtype_text == "I64") {
        dtype = DType::I64;

      } else {
        fail("load_safetensors", path, ": tensor '", name, "' has unsupported dtype ", dtype_text,
             " (F32, F64, I64 are supported)");
      }
      check(offsets.size() == 2 && offsets[0] <= offsets[1] && offsets[1] <= data_size, "load_safetensors", path,
            ": tensor '", name, "' data range is outside the file (truncated?)");
      uint64_t nbytes = 0;
      check(checked_bytes(shape, dtype, nbytes) && offsets[1] - offsets[0] == nbytes, "load_safetensors", path,
            ": tensor '", name, "' of shape ", fmt(shape), " needs ", nbytes, " bytes but its range holds ",
            offsets[1] - offsets[0]);
      Tensor t = empty(shape, {.dtype = dtype});
      in.seekg(static_cast<std::streamoff>(8 + header_size + offsets[0]));
      in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(nbytes));
      check(in.good(), "load_safetensors", path, ": reading tensor '", name, "' failed");
      file.tensors[name] = t;
      ranges.emplace_back(offsets[0], offsets[1]);
    } catch (const nlohmann::json::exception& e) {
      fail("load_safetensors", path, ": entry '", name, "' is malformed (", e.what(), ")");
    }
  }
  // The data section must be covered exactly: no overlaps, no holes.
  std::sort(ranges.begin(), ranges.end());
  uint64_t expected = 0;
  for (const auto& [begin, end] : ranges) {
    check(begin == expected, "load_safetensors", path, ": tensor data ranges overlap or leave a hole at byte ", begin);
    expected = end;
  }
  check(expected == data_size, "load_safetensors", path, ": ", data_size - expected, " bytes after the last tensor");
  return file;
}

void check_finite(const StateDict& state, const std::string& source) {
  for (const auto& [name, tensor] : state) {
    if (tensor.dtype() == DType::I64) continue;
    const std::vector<double> values = tensor.detach().to(Device::CPU).to_vector<double>();
    const auto bad = std::count_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); });
    check(bad == 0, "load", source, ": tensor '", name, "' holds ", bad, " NaN or infinite values of ", values.size(),
          " (written by a run that diverged?)");
  }
}

void load_state_dict_from(Module& module, const StateDict& state, const std::string& source, bool strict,
                          bool allow_nonfinite) {
  if (!allow_nonfinite) check_finite(state, source);
  try {
    module.load_state_dict(state, strict);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (loading " + source + ")");
  }
}

void load_state_dict_file(Module& module, const std::string& path, bool strict, bool allow_nonfinite) {
  load_state_dict_from(module, load_safetensors(path).tensors, path, strict, allow_nonfinite);
}

}  // namespace sm
