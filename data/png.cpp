// Indexed PNG, read and written by hand so the palette indices survive (stb_image expands
// them to colours). A PNG file is an 8-byte signature, then chunks: 4-byte big-endian length,
// 4-byte type, data, CRC-32 of type + data. IHDR gives the size and pixel format, PLTE the
// palette, the IDAT chunks together one zlib stream of rows, each row a filter byte followed
// by the packed pixels, and IEND ends the file (https://www.w3.org/TR/png/). zlib does the
// compression and the checksums; this file does the chunks, the filters and the bit packing.
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "data/deflate.h"
#include "data/files.h"
#include "data/image.h"

namespace sm {

namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
constexpr uint8_t kGrey = 0, kIndexed = 3;  // IHDR colour types

uint32_t read_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// The value a row filter predicts for a byte from its left (a), upper (b) and upper-left (c)
// neighbours; the file stores byte - prediction (mod 256).
uint8_t predict(int filter, uint8_t a, uint8_t b, uint8_t c) {
  switch (filter) {
    case 1:
      return a;  // Sub
    case 2:
      return b;  // Up
    case 3:
      return static_cast<uint8_t>((a + b) / 2);  // Average
    case 4: {                                    // Paeth: the neighbour closest to a + b - c
      const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
      return pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
    }
    default:
      return 0;  // None
  }
}

// Bytes per packed row of `width` pixels of `depth` bits.
int64_t row_bytes(int64_t width, int depth) { return (width * depth + 7) / 8; }

struct Header {
  int64_t width = 0, height = 0;
  int depth = 0, colour_type = 0;
};

Header parse_header(const uint8_t* data, uint32_t length, const std::string& name, const std::string& op) {
  check(length == 13, op, name, " is corrupt (IHDR chunk of ", length, " bytes)");
  Header h{read_u32(data), read_u32(data + 4), data[8], data[9]};
  check(h.width > 0 && h.height > 0 && h.width < (1 << 24) && h.height < (1 << 24), op, name, " has an invalid size ",
        h.width, "x", h.height);
  check(data[10] == 0 && data[11] == 0, op, name, " is corrupt (unknown compression or filter method)");
  check(data[12] == 0, op, name, " is interlaced (Adam7); only non-interlaced PNGs are supported");
  const bool indexed = h.colour_type == kIndexed && (h.depth == 1 || h.depth == 2 || h.depth == 4 || h.depth == 8);
  const bool grey = h.colour_type == kGrey && h.depth == 8;
  check(indexed || grey, op, name, " has colour type ", h.colour_type, " and bit depth ", h.depth,
        "; expected an indexed (palette) PNG or an 8-bit greyscale PNG");
  return h;
}

// Undoes the row filters in place. `raw` holds height rows of (1 filter byte + stride bytes).
// The filters look one byte back because these formats have at most one byte per pixel.
void unfilter(uint8_t* raw, int64_t height, int64_t stride, const std::string& name, const std::string& op) {
  const std::vector<uint8_t> zero_row(stride, 0);
  const uint8_t* previous = zero_row.data();
  for (int64_t y = 0; y < height; ++y) {
    const int filter = raw[y * (stride + 1)];
    check(filter <= 4, op, name, " is corrupt (unknown row filter ", filter, " in row ", y, ")");
    uint8_t* row = raw + y * (stride + 1) + 1;
    for (int64_t i = 0; i < stride; ++i)
      row[i] = static_cast<uint8_t>(row[i] +
                                    predict(filter, i > 0 ? row[i - 1] : 0, previous[i], i > 0 ? previous[i - 1] : 0));
    previous = row;
  }
}

}  // namespace

uint32_t png_crc32(const uint8_t* data, size_t size) { return static_cast<uint32_t>(crc32_z(0, data, size)); }

IndexedImage decode_indexed_png(const std::vector<uint8_t>& bytes, const std::string& name) {
  const std::string op = "read_indexed_png";
  check(bytes.size() >= 8 && std::equal(kSignature, kSignature + 8, bytes.begin()), op, name, " is not a PNG file");
  Header header;
  Palette palette;
  std::vector<uint8_t> compressed;  // the IDAT chunks, joined
  for (size_t pos = 8;;) {
    check(pos + 12 <= bytes.size(), op, name, " is truncated (it ends before the IEND chunk)");
    const uint32_t length = read_u32(&bytes[pos]);
    const std::string type(reinterpret_cast<const char*>(&bytes[pos + 4]), 4);
    check(length <= bytes.size() - pos - 12, op, name, " is truncated (chunk ", type, " runs past the end)");
    const uint8_t* data = &bytes[pos + 8];
    check(png_crc32(&bytes[pos + 4], length + 4) == read_u32(data + length), op, name,
          " is corrupt (CRC mismatch in chunk ", type, ")");
    check((pos == 8) == (type == "IHDR"), op, name, " is corrupt (chunk ", type, " where IHDR should be)");
    if (type == "IHDR") {
      header = parse_header(data, length, name, op);
      check_pixel_count(header.width, header.height, name, op);
    }
    if (type == "PLTE") {
      check(length % 3 == 0 && length > 0 && length <= 768, op, name, " is corrupt (PLTE of ", length, " bytes)");
      palette.resize(length / 3);
      std::memcpy(palette.data(), data, length);
    }
    if (type == "IDAT") compressed.insert(compressed.end(), data, data + length);
    pos += 12 + length;
    if (type == "IEND") break;
  }
  check(header.colour_type != kIndexed || !palette.empty(), op, name, " is corrupt (indexed, but no PLTE chunk)");
  if (header.colour_type == kGrey) palette.clear();  // a suggested palette for display only

  const int64_t stride = row_bytes(header.width, header.depth);
  const int64_t expected = header.height * (stride + 1);
  std::vector<uint8_t> inflated;
  const bool ok = zlib_inflate(compressed.data(), compressed.size(), static_cast<size_t>(expected), inflated);
  check(ok && static_cast<int64_t>(inflated.size()) == expected, op, name, " is corrupt (its pixel data inflates to ",
        inflated.size(), " bytes, a ", header.height, "x", header.width, " image needs ", expected, ")");
  uint8_t* raw = inflated.data();
  unfilter(raw, header.height, stride, name, op);

  IndexedImage image{header.height, header.width, std::vector<uint8_t>(header.height * header.width), palette};
  const int depth = header.depth, per_byte = 8 / depth, mask = (1 << depth) - 1;
  for (int64_t y = 0; y < header.height; ++y) {
    const uint8_t* row = raw + y * (stride + 1) + 1;
    for (int64_t x = 0; x < header.width; ++x) {
      // Pixels are packed from the most significant bits down.
      const int shift = 8 - depth * (static_cast<int>(x % per_byte) + 1);
      image.indices[y * header.width + x] = static_cast<uint8_t>((row[x / per_byte] >> shift) & mask);
    }
  }
  return image;
}

IndexedImage read_indexed_png(const std::string& path) {
  return decode_indexed_png(read_file(path, "read_indexed_png"), path);
}

// Appends one chunk: length, type, data, CRC of type + data.
static void put_chunk(std::vector<uint8_t>& out, const char* type, const std::vector<uint8_t>& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put_u32(out, png_crc32(&out[start], out.size() - start));
}

std::vector<uint8_t> encode_indexed_png(const IndexedImage& image, const IndexedPngOptions& options) {
  const std::string op = "write_indexed_png";
  const int depth = options.bit_depth;
  const bool grey = image.palette.empty();
  check(image.height > 0 && image.width > 0 && static_cast<int64_t>(image.indices.size()) == image.height * image.width,
        op, "a ", image.height, "x", image.width, " image needs ", image.height * image.width, " indices, has ",
        image.indices.size());
  check(depth == 1 || depth == 2 || depth == 4 || depth == 8, op, "bit depth must be 1, 2, 4 or 8, got ", depth);
  check(!grey || depth == 8, op, "an image without a palette is written as 8-bit greyscale, not ", depth, "-bit");
  check(image.palette.size() <= 256, op, "a palette holds at most 256 colours, got ", image.palette.size());
  check(options.filter >= 0 && options.filter <= 4, op, "row filter must be 0..4, got ", options.filter);
  const int largest = *std::max_element(image.indices.begin(), image.indices.end());
  check(largest < (1 << depth), op, "index ", largest, " does not fit in ", depth, " bits");

  // Pack each row (most significant bits first), then filter it against the previous one.
  const int64_t stride = row_bytes(image.width, depth);
  const int per_byte = 8 / depth;
  std::vector<uint8_t> packed(image.height * stride, 0), raw;
  raw.reserve(image.height * (stride + 1));
  for (int64_t y = 0; y < image.height; ++y) {
    uint8_t* row = &packed[y * stride];
    for (int64_t x = 0; x < image.width; ++x)
      row[x / per_byte] |= static_cast<uint8_t>(image.indices[y * image.width + x]
                                                << (8 - depth * (static_cast<int>(x % per_byte) + 1)));
    const uint8_t* previous = y > 0 ? row - stride : nullptr;
    raw.push_back(static_cast<uint8_t>(options.filter));
    for (int64_t i = 0; i < stride; ++i) {
      const uint8_t a = i > 0 ? row[i - 1] : 0, b = previous ? previous[i] : 0,
                    c = previous && i > 0 ? previous[i - 1] : 0;
      raw.push_back(static_cast<uint8_t>(row[i] - predict(options.filter, a, b, c)));
    }
  }
  std::vector<uint8_t> header;
  put_u32(header, static_cast<uint32_t>(image.width));
  put_u32(header, static_cast<uint32_t>(image.height));
  header.insert(header.end(), {static_cast<uint8_t>(depth), grey ? kGrey : kIndexed, 0, 0, 0});
  std::vector<uint8_t> palette;
  for (const auto& colour : image.palette) palette.insert(palette.end(), colour.begin(), colour.end());

  std::vector<uint8_t> out(kSignature, kSignature + 8);
  put_chunk(out, "IHDR", header);
  if (!grey) put_chunk(out, "PLTE", palette);
  put_chunk(out, "IDAT", zlib_compress(raw));
  put_chunk(out, "IEND", {});
  return out;
}

void write_indexed_png(const std::string& path, const IndexedImage& image) {
  write_file_atomically(path, encode_indexed_png(image), "write_indexed_png");
}

Palette davis_palette() {
  // The official files store the PASCAL VOC colour map for indices 0..21 (bit i of the index
  // sets bit 7 - i/3 of the red, green or blue value), except that VOC's 192 is written as
  // 191, then greys (i, i, i) for 22..255.
  Palette palette(256);
  for (int i = 0; i < 256; ++i) {
    if (i >= 22) {
      palette[i] = {static_cast<uint8_t>(i), static_cast<uint8_t>(i), static_cast<uint8_t>(i)};
      continue;
    }
    std::array<int, 3> rgb{0, 0, 0};
    for (int bit = 0, code = i; code > 0; ++bit, code >>= 3)
      for (int channel = 0; channel < 3; ++channel) rgb[channel] |= ((code >> channel) & 1) << (7 - bit);
    for (int channel = 0; channel < 3; ++channel)
      palette[i][channel] = static_cast<uint8_t>(rgb[channel] == 192 ? 191 : rgb[channel]);
  }
  return palette;
}

}  // namespace sm
