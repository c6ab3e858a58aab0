// safetensors files: the format reader, then the checkpoint reader and the model it builds
// (metadata JSON, the model config, every parameter's shape, the non-finite check).
#include "models/siammae/checkpoint.h"
#include "nn/serialization.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sm::fuzz::input_file(data, size, "file.safetensors");
  sm::fuzz::refuse_or_read([&] { sm::load_safetensors(path); });
  sm::fuzz::refuse_or_read([&] {
    const sm::Checkpoint checkpoint = sm::read_checkpoint(path);
    // Building a model costs its parameters' memory: only for the small ones a test can afford.
    if (checkpoint.config.encoder_dim * checkpoint.config.encoder_depth <= 4096 &&
        checkpoint.config.decoder_dim * checkpoint.config.decoder_depth <= 4096 && checkpoint.config.num_patches() <= 4096)
      sm::load_model(checkpoint, path);
  });
  return 0;
}
