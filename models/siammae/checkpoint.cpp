#include "models/siammae/checkpoint.h"

#include "nn/serialization.h"

namespace sm {

static const std::string kOptimizerPrefix = "optimizer.";

void save_checkpoint(const std::string& path, const SiamMAE& model, const Optimizer* optimizer,
                     const nlohmann::json& train, int64_t step, double loss, double elapsed_seconds) {
  StateDict tensors = model.state_dict();
  if (optimizer)
    for (const auto& [key, value] : optimizer->state_dict()) tensors[kOptimizerPrefix + key] = value;
  Metadata metadata{{"format", "siammae-checkpoint"},
                    {"config", model.model_config.to_json().dump()},
                    {"train", train.dump()},
                    {"step", std::to_string(step)},
                    {"loss", std::to_string(loss)},
                    {"elapsed_seconds", std::to_string(elapsed_seconds)}};
  save_safetensors(path, tensors, metadata);
}

Checkpoint read_checkpoint(const std::string& path) { return read_checkpoint(load_safetensors(path), path); }

bool is_siammae_checkpoint(const SafetensorsFile& file) { return file.metadata.count("config") > 0; }

Checkpoint read_checkpoint(SafetensorsFile file, const std::string& path) {
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    check(it != file.metadata.end(), "checkpoint", path, " has no '", key,
          "' metadata: it is not a siammae checkpoint (weights alone load with load_state_dict_file)");
    return it->second;
  };
  Checkpoint c;
  try {
    c.config = SiamMAEConfig::from_json(nlohmann::json::parse(meta("config")));
    c.train = nlohmann::json::parse(meta("train"));
    c.step = std::stoll(meta("step"));
    c.loss = std::stod(meta("loss"));
    c.elapsed_seconds = std::stod(meta("elapsed_seconds"));
  } catch (const std::exception& e) {  // JSON or number parsing
    fail("checkpoint", path, ": malformed metadata (", e.what(), ")");
  }
  for (auto& [name, tensor] : file.tensors) {
    if (name.rfind(kOptimizerPrefix, 0) == 0) {
      c.optimizer[name.substr(kOptimizerPrefix.size())] = tensor;
    } else {
      c.model[name] = tensor;
    }
  }
  return c;
}

std::unique_ptr<SiamMAE> load_model(const std::string& path) { return load_model(read_checkpoint(path), path); }

std::unique_ptr<SiamMAE> load_model(const Checkpoint& checkpoint, const std::string& path) {
  auto model = std::make_unique<SiamMAE>(checkpoint.config);
  load_state_dict_from(*model, checkpoint.model, path);
  model->eval();
  return model;
}

}  // namespace sm
