// Reading numeric arrays from MATLAB v5 MAT-files (JHMDB's joint_positions.mat).
//
// The format (MathWorks, "MAT-File Format"): a 128-byte text header ending in a version and
// an endian mark, then data elements, each an (type, byte count) tag and its data, padded to
// 8 bytes. A variable is a miMATRIX element holding array flags (class), dimensions, name
// and the real part; MATLAB's -v7 files wrap each variable in a zlib-compressed
// miCOMPRESSED element. Only what numeric arrays need is read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sm {

// A real numeric array, values converted to double and kept in MATLAB's column-major order:
// element (i0, i1, i2, ...) is values[i0 + d0 * (i1 + d1 * (i2 + ...))].
struct MatArray {
  std::vector<int64_t> dims;
  std::vector<double> values;

  double at(const std::vector<int64_t>& index) const;  // bounds-checked
};

// Every real numeric variable of a little-endian MAT v5 file, by name. Other variables
// (char, cell, struct, sparse, complex) are skipped; MAT 7.3 (HDF5) files are refused.
std::map<std::string, MatArray> read_mat_file(const std::string& path);

// One variable; the error names the file and the variables it does have.
MatArray read_mat_array(const std::string& path, const std::string& name);

}  // namespace sm
