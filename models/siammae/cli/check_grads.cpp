// siammae check-grads: the loss and every parameter gradient for given weights, frames and
// masks, written as safetensors so any PyTorch twin can be compared name by name.
#include <cstdio>
#include <iostream>

#include "models/siammae/cli/commands.h"
#include "models/siammae/cli/flags.h"
#include "models/siammae/model.h"
#include "nn/serialization.h"

namespace sm::cli {

namespace {

const Tensor& entry(const SafetensorsFile& file, const std::string& path, const std::string& name) {
  auto it = file.tensors.find(name);
  check(it != file.tensors.end(), "check-grads", path, " has no tensor '", name, "'");
  return it->second;
}

Tensor frames(const SafetensorsFile& file, const std::string& path, const std::string& name,
              const SiamMAEConfig& config) {
  const Tensor& t = entry(file, path, name);
  const int64_t s = config.image_size;
  check(t.dim() == 4 && t.size(1) == 3 && t.size(2) == s && t.size(3) == s, "check-grads", "'", name, "' in ", path,
        " is ", fmt(t.shape()), "; config ", config.name, " needs (B, 3, ", s, ", ", s, ")");
  return t;
}

PatchMask given_mask(const SafetensorsFile& file, const std::string& path, const std::string& name,
                     const SiamMAEConfig& config, int64_t batch, const Tensor& like) {
  const Tensor& ids = entry(file, path, name);
  check(ids.dtype() == DType::I64 && ids.shape() == Shape{batch, config.num_patches()}, "check-grads", "'", name,
        "' in ", path, " must be int64 (", batch, ", ", config.num_patches(), "), got ", dtype_name(ids.dtype()), " ",
        fmt(ids.shape()));
  return mask_from_shuffle(ids, visible_count(config.num_patches(), config.mask_ratio), like);
}

}  // namespace

int check_grads(int argc, char** argv) {
  Flags flags("check-grads",
              "Runs one forward and backward pass of SiamMAE on given weights, frames and masks and writes the loss\n"
              "and every parameter gradient by name, to compare with a PyTorch twin of the model.");
  flags.add_required("config", "preset (tiny|small|vits16|vits8|micro) or a config .json file")
      .add_required("weights", "safetensors file with every parameter and buffer by name")
      .add_required("inputs",
                    "safetensors file with f1, f2 (B, 3, H, W) float, ImageNet-normalized, and ids_shuffle (B, N) "
                    "int64 (f2's mask; also ids_shuffle_f1 with symmetric masking)")
      .add_required("out", "safetensors file to write: loss and grad.<name> for every parameter")
      .add("dtype", "f32", "f32 or f64");
  if (!flags.parse(argc, argv, 2)) return 0;
  const std::string dtype_text = flags.text("dtype");
  check(dtype_text == "f32" || dtype_text == "f64", "check-grads", "--dtype must be f32 or f64, got '", dtype_text, "'");
  const DType dtype = dtype_text == "f64" ? DType::F64 : DType::F32;

  const SiamMAEConfig config = resolve_config(flags.text("config"));
  SiamMAE model(config);
  model.to(dtype);
  const std::string weights_path = flags.text("weights"), inputs_path = flags.text("inputs");
  load_state_dict_file(model, weights_path);  // strict: a missing, extra or mis-shaped key is an error

  const SafetensorsFile inputs = load_safetensors(inputs_path);
  Tensor f1 = to_dtype(frames(inputs, inputs_path, "f1", config), dtype);  // (B, 3, H, W)
  Tensor f2 = to_dtype(frames(inputs, inputs_path, "f2", config), dtype);
  check(f1.shape() == f2.shape(), "check-grads", "f1 ", fmt(f1.shape()), " and f2 ", fmt(f2.shape()), " differ");
  PairMasks masks;
  if (config.mask_kind == MaskKind::Grid) {
    Generator unused(0);  // grid masks are a fixed pattern
    masks = model.sample_masks(f1.size(0), unused);
  } else {
    masks.f2 = given_mask(inputs, inputs_path, "ids_shuffle", config, f1.size(0), model.mask_token);
    if (config.symmetric_masking)
      masks.f1 = given_mask(inputs, inputs_path, "ids_shuffle_f1", config, f1.size(0), model.mask_token);
  }

  SiamMAEOutput out = model.forward(f1, f2, masks);
  out.loss.backward();
  StateDict result{{"loss", to_dtype(out.loss, DType::F64)}};
  for (const auto& [name, p] : model.named_parameters()) result["grad." + name] = p.grad();
  save_safetensors(flags.text("out"), result, {{"config", config.to_json().dump()}});
  std::printf("loss %.10g\n", out.loss.item());
  std::printf("wrote the loss and %zu gradients to %s\n", model.named_parameters().size(), flags.text("out").c_str());
  return 0;
}

}  // namespace sm::cli
