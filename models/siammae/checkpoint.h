// SiamMAE checkpoints: one safetensors file holding the model's parameters and buffers under
// their MAE names, the optimizer's state under "optimizer.<key>", and in its metadata the
// model config ("config", JSON), the training options ("train", JSON), the step and the loss.
// A PyTorch user loads the model by keeping the keys that do not start with "optimizer.".
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "models/siammae/model.h"
#include "nn/optim/optimizer.h"
#include "nn/serialization.h"
#include "tensor/atomic_file.h"

namespace sm {

struct Checkpoint {
  SiamMAEConfig config;
  StateDict model;      // parameters and buffers by name
  StateDict optimizer;  // empty when saved without an optimizer
  nlohmann::json train;  // the training options, or null
  int64_t step = 0;
  double loss = 0;
  double elapsed_seconds = 0;   // training time so far
  int64_t skipped_batches = 0;  // batches whose loss or gradients were not finite, left out
};

// Writes through an AtomicFile, so an interrupted save never leaves a broken checkpoint.
void save_checkpoint(const std::string& path, const SiamMAE& model, const Optimizer* optimizer,
                     const nlohmann::json& train, int64_t step, double loss, double elapsed_seconds,
                     int64_t skipped_batches = 0, Durability durability = Durability::kRenamed);
// Throws naming the file when it is not a SiamMAE checkpoint (no "config" metadata, malformed
// metadata) or, unless allow_nonfinite, when a tensor holds NaN or infinite values.
Checkpoint read_checkpoint(const std::string& path, bool allow_nonfinite = false);
// The same for a file already read; `path` names it in errors.
Checkpoint read_checkpoint(SafetensorsFile file, const std::string& path, bool allow_nonfinite = false);
// True when the file carries a SiamMAE config in its metadata (written by save_checkpoint).
bool is_siammae_checkpoint(const SafetensorsFile& file);
// The model of a checkpoint, built from its config and loaded (strict: every parameter
// present with its shape, nothing extra), in eval mode.
std::unique_ptr<SiamMAE> load_model(const std::string& path, bool allow_nonfinite = false);
std::unique_ptr<SiamMAE> load_model(const Checkpoint& checkpoint, const std::string& path);

}  // namespace sm
