// safetensors files: 8-byte little-endian header length N, N bytes of JSON header, then the
// raw little-endian tensor data. The header maps each name to {"dtype", "shape",
// "data_offsets": [begin, end)} (offsets into the data section) and may hold string
// key/values under "__metadata__". PyTorch users read these files with the `safetensors`
// package (or a 20-line loader); see https://github.com/huggingface/safetensors.
#pragma once

#include <map>
#include <string>

#include "nn/module.h"

namespace sm {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  StateDict tensors;  // on the CPU, in the dtype stored (F32, F64 or I64)
  Metadata metadata;
};

// Writes to "<path>.tmp" and renames it over `path`, so a crash never leaves half a file.
void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata = {});

// Reads and checks a file: a truncated or corrupt file (bad header length, bad JSON, unknown
// dtype, a shape that does not match its byte range, ranges out of bounds, overlapping or
// leaving holes) throws one error naming the file and what is wrong.
SafetensorsFile load_safetensors(const std::string& path);

// Module::load_state_dict, with errors that also name where the state came from (a file).
void load_state_dict_from(Module& module, const StateDict& state, const std::string& source, bool strict = true);
// Loads a module's parameters and buffers from a safetensors file; errors name the file.
void load_state_dict_file(Module& module, const std::string& path, bool strict = true);

}  // namespace sm
