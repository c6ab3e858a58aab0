// Config JSON: a model config (--config FILE.json, checkpoint metadata) and a run's
// config.json (--resume), each read and validated.
#include "models/siammae/config.h"
#include "models/siammae/train.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sm::fuzz::input_file(data, size, "config.json");
  sm::fuzz::refuse_or_read([&] {
    const sm::SiamMAEConfig config = sm::resolve_config(path);
    if (sm::SiamMAEConfig::from_json(config.to_json()).to_json() != config.to_json()) __builtin_trap();
  });
  sm::fuzz::refuse_or_read([&] {
    const sm::TrainOptions options = sm::read_settings_file(path, "train", sm::TrainOptions::from_json);
    options.validate();
    options.warmup_steps(1000);
  });
  return 0;
}
