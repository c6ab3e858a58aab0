// JPEG and PNG frames through read_image (stb_image behind our header and size checks).
#include "data/image.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sm::fuzz::input_file(data, size, "frame");
  sm::fuzz::refuse_or_read([&] { sm::read_image_size(path); });
  sm::fuzz::refuse_or_read([&] {
    const sm::Image image = sm::read_image(path);
    if (image.pixels.size() != static_cast<size_t>(image.height * image.width * 3)) __builtin_trap();
    sm::image_to_tensor(image);
  });
  return 0;
}
