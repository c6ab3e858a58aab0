#include "data/deflate.h"

#include <zlib.h>

#include <algorithm>

#include "tensor/error.h"

namespace sm {

std::vector<uint8_t> zlib_compress(const std::vector<uint8_t>& bytes) {
  uLongf size = compressBound(static_cast<uLong>(bytes.size()));
  std::vector<uint8_t> out(size);
  check(bytes.size() <= UINT32_MAX && compress2(out.data(), &size, bytes.data(), static_cast<uLong>(bytes.size()),
                                                Z_DEFAULT_COMPRESSION) == Z_OK,
        "zlib", "cannot compress ", bytes.size(), " bytes");
  out.resize(size);
  return out;
}

bool zlib_inflate(const uint8_t* data, size_t size, size_t max_bytes, std::vector<uint8_t>& out) {
  // zlib counts bytes in 32-bit fields: input and output go to it in pieces of at most 1 GiB.
  constexpr size_t kPiece = size_t{1} << 30;
  out.clear();
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return false;
  struct End {
    z_stream& z;
    ~End() { inflateEnd(&z); }
  } end{z};
  size_t unread = size;
  z.next_in = const_cast<Bytef*>(data);
  while (out.size() < max_bytes) {
    if (z.avail_in == 0 && unread > 0) {
      z.avail_in = static_cast<uInt>(std::min(unread, kPiece));
      unread -= z.avail_in;
    }
    // Grow the output by what is there already (at least 64 KiB), never past max_bytes.
    const size_t have = out.size();
    const size_t room = std::min({max_bytes - have, std::max(have, size_t{1} << 16), kPiece});
    out.resize(have + room);
    z.next_out = out.data() + have;
    z.avail_out = static_cast<uInt>(room);
    const int status = inflate(&z, Z_NO_FLUSH);
    out.resize(have + room - z.avail_out);
    if (status == Z_STREAM_END) return true;
    const bool input_ran_out = status == Z_BUF_ERROR && z.avail_in == 0 && unread == 0;
    if (input_ran_out || (status != Z_OK && status != Z_BUF_ERROR)) return false;
  }
  return true;
}

}  // namespace sm
