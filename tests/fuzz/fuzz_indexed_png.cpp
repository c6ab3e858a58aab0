// Palette masks (DAVIS annotations, VIP class maps) through our indexed-PNG reader. What it
// reads must also write and read back unchanged.
#include "data/image.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sm::fuzz::refuse_or_read([&] {
    const sm::IndexedImage mask = sm::decode_indexed_png(std::vector<uint8_t>(data, data + size), "mask.png");
    if (mask.indices.size() != static_cast<size_t>(mask.height * mask.width)) __builtin_trap();
    sm::IndexedImage writable = mask;
    if (writable.palette.empty()) {
      // A greyscale file: written back as greyscale, where the index is the grey value.
    } else if (writable.palette.size() < 256) {
      writable.palette.resize(256);  // indices beyond a short palette are legal in a file
    }
    const sm::IndexedImage back = sm::decode_indexed_png(sm::encode_indexed_png(writable), "round trip");
    if (back.indices != mask.indices || back.height != mask.height || back.width != mask.width) __builtin_trap();
  });
  return 0;
}
