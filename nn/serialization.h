// safetensors files: 8-byte little-endian header length N, N bytes of JSON header, then the
// raw little-endian tensor data. The header maps each name to {"dtype", "shape",
// "data_offsets": [begin, end)} (offsets into the data section) and may hold string
// key/values under "__metadata__". PyTorch users read these files with the `safetensors`
// package (or a 20-line loader); see https://github.com/huggingface/safetensors.
#pragma once

#include <map>
#include <string>

#include "nn/module.h"
#include "tensor/atomic_file.h"

namespace sm {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  StateDict tensors;  // on the CPU, in the dtype stored (F32, F64 or I64)
  Metadata metadata;
};

// Writes through an AtomicFile (tensor/atomic_file.h), so a crash never leaves half a file.
void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata = {},
                      Durability durability = Durability::kRenamed);

// Reads and checks a file: a truncated or corrupt file (bad header length, bad JSON, unknown
// dtype, a shape that does not match its byte range or whose byte count overflows, ranges
// out of bounds, overlapping or leaving holes) throws one error naming the file and what is
// wrong. The values themselves are not checked (see check_finite).
SafetensorsFile load_safetensors(const std::string& path);

// Throws "[load] <source>: tensor '<name>' holds N NaN or infinite values ..." for the first
// floating-point tensor that is not all finite.
void check_finite(const StateDict& state, const std::string& source);

// Module::load_state_dict, with errors that also name where the state came from (a file).
// Non-finite values are refused unless allow_nonfinite (to look at a diverged run).
void load_state_dict_from(Module& module, const StateDict& state, const std::string& source, bool strict = true,
                          bool allow_nonfinite = false);
// Loads a module's parameters and buffers from a safetensors file; errors name the file.
void load_state_dict_file(Module& module, const std::string& path, bool strict = true, bool allow_nonfinite = false);

}  // namespace sm
