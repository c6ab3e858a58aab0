// zlib streams (RFC 1950: a 2-byte header, deflate data, an Adler-32 check), through
// Debian's zlib. PNG stores its pixel rows as one; MATLAB v7 files each compressed variable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sm {

// `bytes` compressed as one zlib stream.
std::vector<uint8_t> zlib_compress(const std::vector<uint8_t>& bytes);

// Inflates the zlib stream in [data, data + size) into `out`, stopping once `max_bytes` are
// out: callers know how much they need (a PNG's rows) or bound it (so a small file cannot
// claim gigabytes). True when the stream ended cleanly or `max_bytes` were reached; false when
// it is corrupt or its input runs out first. `out` holds what was inflated either way.
bool zlib_inflate(const uint8_t* data, size_t size, size_t max_bytes, std::vector<uint8_t>& out);

}  // namespace sm
