// JHMDB's joint_positions.mat: MATLAB v5 files, plain and zlib-compressed, read as poses.
#include "eval/jhmdb.h"
#include "eval/mat_file.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sm::fuzz::input_file(data, size, "joint_positions.mat");
  sm::fuzz::refuse_or_read([&] {
    for (const auto& [name, array] : sm::read_mat_file(path))
      if (!array.values.empty()) array.at(std::vector<int64_t>(array.dims.size(), 0));
  });
  sm::fuzz::refuse_or_read([&] { sm::read_jhmdb_joints(path); });
  return 0;
}
