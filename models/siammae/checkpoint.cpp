#include "models/siammae/checkpoint.h"

namespace sm {

static const std::string kOptimizerPrefix = "optimizer.";

void save_checkpoint(const std::string& path, const SiamMAE& model, const Optimizer* optimizer,
                     const nlohmann::json& train, int64_t step, double loss, double elapsed_seconds,
                     int64_t skipped_batches, Durability durability) {
  StateDict tensors = model.state_dict();
  if (optimizer)
    for (const auto& [key, value] : optimizer->state_dict()) tensors[kOptimizerPrefix + key] = value;
  Metadata metadata{{"format", "siammae-checkpoint"},
                    {"config", model.model_config.to_json().dump()},
                    {"train", train.dump()},
                    {"step", std::to_string(step)},
                    {"loss", std::to_string(loss)},
                    {"elapsed_seconds", std::to_string(elapsed_seconds)},
                    {"skipped_batches", std::to_string(skipped_batches)}};
  save_safetensors(path, tensors, metadata, durability);
}

namespace {

// A whole decimal number, for the metadata (std::stoll would accept "12abc").
int64_t whole_number(const std::string& text) {
  size_t used = 0;
  const int64_t value = std::stoll(text, &used);
  if (used != text.size()) throw std::invalid_argument("'" + text + "' is not a whole number");
  return value;
}

}  // namespace

Checkpoint read_checkpoint(const std::string& path, bool allow_nonfinite) {
  return read_checkpoint(load_safetensors(path), path, allow_nonfinite);
}

bool is_siammae_checkpoint(const SafetensorsFile& file) { return file.metadata.count("config") > 0; }

Checkpoint read_checkpoint(SafetensorsFile file, const std::string& path, bool allow_nonfinite) {
  for (const char* key : {"config", "train", "step", "loss", "elapsed_seconds"})
    check(file.metadata.count(key), "checkpoint", path, " has no '", key,
          "' metadata: it is not a siammae checkpoint (weights alone load with load_state_dict_file)");
  auto meta = [&](const std::string& key) -> const std::string& { return file.metadata.at(key); };
  Checkpoint c;
  try {
    c.config = SiamMAEConfig::from_json(nlohmann::json::parse(meta("config")));
    c.train = nlohmann::json::parse(meta("train"));
    c.step = whole_number(meta("step"));
    c.loss = std::stod(meta("loss"));
    c.elapsed_seconds = std::stod(meta("elapsed_seconds"));
    const auto skipped = file.metadata.find("skipped_batches");  // absent in older checkpoints
    if (skipped != file.metadata.end()) c.skipped_batches = whole_number(skipped->second);
  } catch (const std::exception& e) {  // JSON or number parsing, or a config that does not validate
    fail("checkpoint", path, ": malformed metadata (", e.what(), ")");
  }
  check(c.step >= 0 && c.skipped_batches >= 0, "checkpoint", path, ": malformed metadata (step ", c.step,
        ", skipped batches ", c.skipped_batches, ")");
  if (!allow_nonfinite) check_finite(file.tensors, path);
  for (auto& [name, tensor] : file.tensors) {
    if (name.starts_with(kOptimizerPrefix)) {
      c.optimizer[name.substr(kOptimizerPrefix.size())] = tensor;
    } else {
      c.model[name] = tensor;
    }
  }
  return c;
}

std::unique_ptr<SiamMAE> load_model(const std::string& path, bool allow_nonfinite) {
  return load_model(read_checkpoint(path, allow_nonfinite), path);
}

std::unique_ptr<SiamMAE> load_model(const Checkpoint& checkpoint, const std::string& path) {
  auto model = std::make_unique<SiamMAE>(checkpoint.config);
  load_state_dict_from(*model, checkpoint.model, path, true, /*allow_nonfinite=*/true);  // read_checkpoint decided
  model->eval();
  return model;
}

}  // namespace sm
