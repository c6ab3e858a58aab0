#include "models/siammae/vit_import.h"

#include <cmath>
#include <map>
#include <set>
#include <sstream>

namespace sm {

namespace {

// Prefixes that training wrappers put before the encoder's names.
const char* const kWrapperPrefixes[] = {"module.", "backbone."};
// Families of tensors that belong to something around the encoder, ignored when evaluating it.
const char* const kIgnoredFamilies[] = {"decoder", "mask_token", "head", "fc_norm"};
// The names inside blocks.N that a plain ViT block has.
const std::set<std::string> kBlockTensors = {
    "norm1.weight",    "norm1.bias",    "attn.qkv.weight", "attn.qkv.bias",  "attn.proj.weight", "attn.proj.bias",
    "norm2.weight",    "norm2.bias",    "mlp.fc1.weight",  "mlp.fc1.bias",   "mlp.fc2.weight",   "mlp.fc2.bias"};
const std::set<std::string> kTopTensors = {"cls_token",   "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
                                           "norm.weight", "norm.bias"};
// Heads of the standard ViT widths (Ti, S, B, L, H), all with 64-wide heads but ViT-H's 80.
const std::map<int64_t, int64_t> kStandardHeads = {{192, 3}, {384, 6}, {768, 12}, {1024, 16}, {1280, 16}};


// `name` without its wrapper prefixes, which are added to `stripped`.
std::string strip_wrappers(std::string name, std::set<std::string>& stripped) {
  for (bool again = true; again;) {
    again = false;
    for (const std::string prefix : kWrapperPrefixes)
      if (name.starts_with(prefix)) {
        stripped.insert(prefix);
        name = name.substr(prefix.size());
        again = true;
      }
  }
  return name;
}

// The family a tensor is ignored as ("decoder", "head", ...), or "" when it is not ignored.
std::string ignored_family(const std::string& name) {
  for (const char* family : kIgnoredFamilies)
    if (name.starts_with(family)) return family;
  return "";
}

// For "blocks.12.attn.qkv.weight": index 12 and "attn.qkv.weight". False for other names.
bool split_block_name(const std::string& name, int64_t& index, std::string& rest) {
  if (!name.starts_with("blocks.")) return false;
  const size_t dot = name.find('.', 7);
  if (dot == std::string::npos || dot == 7) return false;
  const std::string digits = name.substr(7, dot - 7);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return false;
  index = std::stoll(digits);
  rest = name.substr(dot + 1);
  return true;
}

}  // namespace

std::string to_string(PositionResize mode) {
  switch (mode) {
    case PositionResize::Bicubic: return "bicubic";
    case PositionResize::Dino: return "dino";
    case PositionResize::Timm: return "timm";
  }
  return "?";
}

PositionResize parse_position_resize(const std::string& text) {
  for (PositionResize mode : {PositionResize::Bicubic, PositionResize::Dino, PositionResize::Timm})
    if (text == to_string(mode)) return mode;
  fail("vit", "unknown position resize '", text, "' (bicubic, dino or timm)");
}

ImportedVit import_vit(const SafetensorsFile& file, const std::string& path, const VitImportOptions& options) {
  ImportedVit out;
  out.path = path;
  std::set<std::string> prefixes;  // the wrapper prefixes seen: "module.", "backbone."
  std::map<std::string, int64_t> ignored;
  std::set<int64_t> block_indices;
  for (const auto& [stored_name, tensor] : file.tensors) {
    const std::string name = strip_wrappers(stored_name, prefixes);
    if (const std::string family = ignored_family(name); !family.empty()) {
      ++ignored[family];
      continue;
    }
    int64_t index = 0;
    std::string rest;
    const bool in_block = split_block_name(name, index, rest);
    check(in_block ? kBlockTensors.count(rest) > 0 : kTopTensors.count(name) > 0, "vit", path, ": tensor '",
          stored_name, "' is not part of a plain ViT encoder (cls_token, pos_embed, patch_embed.proj.*, blocks.N.*, "
          "norm.*; layer scale, register tokens and other variants are not supported)");
    check(tensor.dtype() == DType::F32, "vit", path, ": tensor '", stored_name, "' is ", dtype_name(tensor.dtype()),
          "; convert the checkpoint to float32 (tools/convert_checkpoint.py does)");
    check(out.weights.emplace(name, tensor).second, "vit", path, ": tensor '", name, "' appears twice (once as '",
          stored_name, "')");
    if (in_block) block_indices.insert(index);
  }

  auto need = [&](const std::string& name, int64_t dims) -> const Tensor& {
    auto it = out.weights.find(name);
    check(it != out.weights.end(), "vit", path, ": no '", name, "' tensor: not a ViT encoder checkpoint");
    check(it->second.dim() == dims, "vit", path, ": '", name, "' has shape ", fmt(it->second.shape()), ", expected ",
          dims, " dimensions");
    return it->second;
  };
  ViTConfig& c = out.config;
  c.dim = need("cls_token", 3).size(2);
  const Tensor& patch_weight = need("patch_embed.proj.weight", 4);  // (D, C, p, p)
  c.in_chans = patch_weight.size(1);
  c.patch_size = patch_weight.size(2);
  check(patch_weight.size(0) == c.dim && patch_weight.size(3) == c.patch_size, "vit", path,
        ": patch_embed.proj.weight ", fmt(patch_weight.shape()), " should be (", c.dim, ", C, p, p)");
  const Tensor& positions = need("pos_embed", 3);  // (1, 1 + g*g, D)
  const int64_t patch_rows = positions.size(1) - 1;
  const auto grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(std::max<int64_t>(patch_rows, 0)))));
  check(positions.size(0) == 1 && positions.size(2) == c.dim && patch_rows > 0 && grid * grid == patch_rows, "vit",
        path, ": pos_embed ", fmt(positions.shape()), " should be (1, 1 + g*g, ", c.dim,
        "): a CLS row and a square grid of patch rows");
  c.image_size = grid * c.patch_size;

  check(!block_indices.empty(), "vit", path, ": no blocks.N.* tensors");
  c.depth = static_cast<int64_t>(block_indices.size());
  check(*block_indices.rbegin() == c.depth - 1, "vit", path, ": blocks are numbered up to ", *block_indices.rbegin(),
        " but only ", c.depth, " are there");
  const Tensor& fc1 = need("blocks.0.mlp.fc1.weight", 2);  // (hidden, D)
  c.mlp_ratio = static_cast<double>(fc1.size(0)) / static_cast<double>(c.dim);
  check(static_cast<int64_t>(static_cast<double>(c.dim) * c.mlp_ratio) == fc1.size(0), "vit", path, ": MLP width ",
        fc1.size(0), " is not representable as a ratio of the width ", c.dim);
  c.qkv_bias = out.weights.count("blocks.0.attn.qkv.bias") > 0;
  c.eps = 1e-6;
  c.position_resize = options.position_resize;

  std::string heads_source = "given";
  if (options.heads > 0) {
    c.heads = options.heads;
  } else {
    auto standard = kStandardHeads.find(c.dim);
    check(standard != kStandardHeads.end(), "vit", path, ": the number of heads cannot be read from the shapes, and ",
          c.dim, " is not a standard ViT width (192, 384, 768, 1024, 1280): give --heads");
    c.heads = standard->second;
    heads_source = "standard for width " + std::to_string(c.dim);
  }
  check(c.dim % c.heads == 0, "vit", path, ": width ", c.dim, " is not divisible by ", c.heads, " heads");

  std::ostringstream line;
  line << path << ": ViT encoder, depth " << c.depth << ", width " << c.dim << ", " << c.heads << " heads ("
       << heads_source << "), patch " << c.patch_size << ", positions " << grid << "x" << grid << " (resized "
       << to_string(c.position_resize) << "), MLP " << fc1.size(0) << (c.qkv_bias ? ", qkv bias" : ", no qkv bias");
  if (!prefixes.empty()) line << "; prefixes stripped:";
  for (const std::string& prefix : prefixes) line << " " << prefix;
  if (!ignored.empty()) line << "; ignored";
  for (const auto& [family, count] : ignored) line << " " << count << " " << family << "*";
  out.summary = line.str();
  return out;
}

std::shared_ptr<VisionTransformer> build_vit(const ImportedVit& imported) {
  auto encoder = std::make_shared<VisionTransformer>(imported.config);
  load_state_dict_from(*encoder, imported.weights, imported.path);
  encoder->eval();
  return encoder;
}

}  // namespace sm
