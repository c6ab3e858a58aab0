#include "nn/serialization.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
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

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
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
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    check(out.good(), "save_safetensors", "cannot write ", tmp);
    const uint64_t header_size = text.size();
    unsigned char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(header_size >> (8 * i));  // little-endian
    out.write(reinterpret_cast<const char*>(length), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const Tensor& t : host)
      out.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.numel() * dtype_size(t.dtype())));
    out.flush();
    check(out.good(), "save_safetensors", "writing ", tmp, " failed (disk full?)");
  }
  check(std::rename(tmp.c_str(), path.c_str()) == 0, "save_safetensors", "cannot rename ", tmp, " to ", path);
}

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
      for (const auto& [key, value] : entry.items()) {
        check(value.is_string(), "load_safetensors", path, ": metadata '", key, "' is not a string");
        file.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    try {
      const std::string dtype_text = entry.at("dtype").get<std::string>();
      const Shape shape = entry.at("shape").get<Shape>();
      const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
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
      for (int64_t s : shape) check(s >= 0, "load_safetensors", path, ": tensor '", name, "' has a negative size");
      check(offsets.size() == 2 && offsets[0] <= offsets[1] && offsets[1] <= data_size, "load_safetensors", path,
            ": tensor '", name, "' data range is outside the file (truncated?)");
      const uint64_t nbytes = static_cast<uint64_t>(numel_of(shape)) * dtype_size(dtype);
      check(offsets[1] - offsets[0] == nbytes, "load_safetensors", path, ": tensor '", name, "' of shape ",
            fmt(shape), " needs ", nbytes, " bytes but its range holds ", offsets[1] - offsets[0]);
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

void load_state_dict_from(Module& module, const StateDict& state, const std::string& source, bool strict) {
  try {
    module.load_state_dict(state, strict);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (loading " + source + ")");
  }
}

void load_state_dict_file(Module& module, const std::string& path, bool strict) {
  load_state_dict_from(module, load_safetensors(path).tensors, path, strict);
}

}  // namespace sm
