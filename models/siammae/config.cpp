#include "models/siammae/config.h"

#include <array>
#include <utility>

#include "models/siammae/masking.h"

namespace sm {

namespace {

template <typename E> using NameTable = std::vector<std::pair<E, std::string>>;

const NameTable<MaskKind>& mask_names() {
  static const NameTable<MaskKind> names{{MaskKind::Random, "random"}, {MaskKind::Grid, "grid"}};
  return names;
}
const NameTable<DecoderKind>& decoder_names() {
  static const NameTable<DecoderKind> names{
      {DecoderKind::CrossSelf, "cross-self"}, {DecoderKind::Cross, "cross"}, {DecoderKind::Joint, "joint"}};
  return names;
}
const NameTable<EncoderKind>& encoder_names() {
  static const NameTable<EncoderKind> names{{EncoderKind::Siamese, "siamese"}, {EncoderKind::Joint, "joint"}};
  return names;
}
const NameTable<NormKind>& norm_names() {
  static const NameTable<NormKind> names{{NormKind::LayerNorm, "layernorm"}, {NormKind::RMSNorm, "rmsnorm"}};
  return names;
}

template <typename E> std::string name_of(const NameTable<E>& table, E value) {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return "?";
}

template <typename E> E parse(const NameTable<E>& table, const std::string& text, const char* what) {
  std::string choices;
  for (const auto& [v, name] : table) {
    if (name == text) return v;
    choices += (choices.empty() ? "" : "|") + name;
  }
  fail("config", "unknown ", what, " '", text, "' (", choices, ")");
}

}  // namespace

std::string to_string(MaskKind kind) { return name_of(mask_names(), kind); }
std::string to_string(DecoderKind kind) { return name_of(decoder_names(), kind); }
std::string to_string(EncoderKind kind) { return name_of(encoder_names(), kind); }
std::string to_string(NormKind kind) { return name_of(norm_names(), kind); }
MaskKind parse_mask_kind(const std::string& text) { return parse(mask_names(), text, "masking"); }
DecoderKind parse_decoder_kind(const std::string& text) { return parse(decoder_names(), text, "decoder"); }
EncoderKind parse_encoder_kind(const std::string& text) { return parse(encoder_names(), text, "encoder"); }
NormKind parse_norm_kind(const std::string& text) { return parse(norm_names(), text, "norm"); }

ViTConfig SiamMAEConfig::encoder_config() const {
  ViTConfig c;
  c.image_size = image_size, c.patch_size = patch_size, c.in_chans = 3;
  c.dim = encoder_dim, c.depth = encoder_depth, c.heads = encoder_heads;
  c.mlp_ratio = mlp_ratio, c.qkv_bias = true, c.eps = 1e-6;
  return c;
}

void SiamMAEConfig::validate() const {
  check(patch_size > 0 && image_size > 0 && image_size % patch_size == 0, "config", "image size ", image_size,
        " is not a positive multiple of the patch size ", patch_size);
  for (const auto& [dim, heads, what] : {std::tuple{encoder_dim, encoder_heads, "encoder"},
                                        std::tuple{decoder_dim, decoder_heads, "decoder"}}) {
    check(heads > 0 && dim % heads == 0, "config", what, " width ", dim, " is not divisible by ", heads, " heads");
    check(dim % 4 == 0, "config", what, " width ", dim, " must be a multiple of 4 (2-D sin-cos positions)");
  }
  check(encoder_depth >= 0 && decoder_depth >= 0, "config", "depths must be >= 0");
  check(mlp_ratio > 0, "config", "mlp_ratio must be positive, got ", mlp_ratio);
  check(mask_ratio >= 0 && mask_ratio < 1, "config", "mask ratio must be in [0, 1), got ", mask_ratio);
  fields().check_values(*this);
  check(static_cast<int64_t>(static_cast<double>(encoder_dim) * mlp_ratio) >= 1 &&
            static_cast<int64_t>(static_cast<double>(decoder_dim) * mlp_ratio) >= 1,
        "config", "mlp ratio ", mlp_ratio, " leaves the MLPs without a hidden unit");
  // Zero visible patches would leave the encoder nothing to see (and divide by zero).
  const int64_t n = num_patches();
  if (mask_kind == MaskKind::Grid)
    check(!grid_visible(grid(), mask_ratio).empty(), "config", "--masking grid needs --mask-ratio 0.5 or 1 - 1/s^2 ",
          "(0.75, 0.889, 0.9375, ...), got ", mask_ratio);
  check(n >= 2, "config", "image size ", image_size, " and patch size ", patch_size, " make ", n,
        " patch per frame; SiamMAE needs at least 2 (one seen, one to reconstruct)");
  const int64_t visible = visible_patches(*this);
  check(visible >= 1, "config", "--mask-ratio ", mask_ratio, " leaves no patch of the ", n, " per frame visible (",
        image_size, " px frames, ", patch_size, " px patches); at most ", 1.0 - 1.0 / static_cast<double>(n),
        " leaves one");
  // And the loss averages over the hidden ones.
  check(visible < n, "config", "--mask-ratio ", mask_ratio, " hides none of the ", n,
        " patches per frame: there is nothing to reconstruct");
}

const FieldTable<SiamMAEConfig>& SiamMAEConfig::fields() {
  using C = SiamMAEConfig;
  static const FieldTable<C> table = [] {
    FieldTable<C> t("config", "key");
    t.add("name", &C::name, "", "the preset the config started from")
        // Bounds far beyond any model that fits in memory, so sizes never overflow.
        .add("image_size", &C::image_size, "", "frames are resized to image_size x image_size", interval(1, 8192))
        .add("patch_size", &C::patch_size, "", "patches are patch_size x patch_size pixels", interval(1, 8192))
        .add("encoder_dim", &C::encoder_dim, "", "encoder width", interval(1, 65536))
        .add("encoder_depth", &C::encoder_depth, "", "encoder blocks", interval(0, 1024))
        .add("encoder_heads", &C::encoder_heads, "", "encoder attention heads", interval(1, 65536))
        .add("decoder_dim", &C::decoder_dim, "", "decoder width", interval(1, 65536))
        .add("decoder_depth", &C::decoder_depth, "", "decoder blocks", interval(0, 1024))
        .add("decoder_heads", &C::decoder_heads, "", "decoder attention heads", interval(1, 65536))
        .add("mlp_ratio", &C::mlp_ratio, "", "MLP hidden width / block width", interval(0, 64, "(]"))
        .add("mask_ratio", &C::mask_ratio, "mask-ratio", "fraction of f2's patches hidden")
        .add("mask_kind", &C::mask_kind, "masking", "random or grid")
        .add("symmetric_masking", &C::symmetric_masking, "symmetric-masking", "mask f1 at the same ratio too (true/false)")
        .add("decoder", &C::decoder, "decoder", "cross-self, cross or joint")
        .add("encoder", &C::encoder, "encoder", "siamese or joint")
        .add("norm_pix_loss", &C::norm_pix_loss, "norm-pix-loss", "targets normalized per patch (true/false)")
        .add("decoder_norm", &C::decoder_norm, "decoder-norm", "the decoder's norms: layernorm or rmsnorm");
    return t;
  }();
  return table;
}

nlohmann::json SiamMAEConfig::to_json() const { return fields().to_json(*this); }

SiamMAEConfig SiamMAEConfig::from_json(const nlohmann::json& j) {
  check(j.is_object(), "config", "expected a JSON object, got ", j.dump());
  // Start from the named preset; a name that is not a string fails in read_json, naming the key.
  const auto name = j.find("name");
  SiamMAEConfig c = siammae_preset(name != j.end() && name->is_string() ? name->get<std::string>() : "tiny");
  fields().read_json(j, c);
  c.validate();
  return c;
}

SiamMAEConfig siammae_preset(const std::string& name) {
  SiamMAEConfig c;
  c.name = name;
  auto sizes = [&](int64_t image, int64_t patch, std::array<int64_t, 3> enc, std::array<int64_t, 3> dec) {
    c.image_size = image, c.patch_size = patch;
    c.encoder_dim = enc[0], c.encoder_depth = enc[1], c.encoder_heads = enc[2];
    c.decoder_dim = dec[0], c.decoder_depth = dec[1], c.decoder_heads = dec[2];
  };
  if (name == "tiny") {
    sizes(64, 8, {192, 6, 3}, {128, 2, 4});
  } else if (name == "small") {
    sizes(112, 16, {384, 12, 6}, {256, 4, 8});
  } else if (name == "vits16") {
    sizes(224, 16, {384, 12, 6}, {512, 8, 16});
  } else if (name == "vits8") {
    sizes(224, 8, {384, 12, 6}, {512, 8, 16});
  } else if (name == "micro") {
    sizes(32, 8, {16, 2, 2}, {16, 2, 2});
    c.mask_ratio = 0.75;  // 4 of 16 patches stay visible
  } else {
    std::string choices;
    for (const std::string& n : siammae_preset_names()) choices += (choices.empty() ? "" : "|") + n;
    fail("config", "unknown preset '", name, "' (", choices, ")");
  }
  return c;
}

SiamMAEConfig resolve_config(const std::string& preset_or_path) {
  const std::string suffix = ".json";
  const bool is_file = preset_or_path.size() > suffix.size() && preset_or_path.ends_with(suffix);
  if (!is_file) return siammae_preset(preset_or_path);
  return read_settings_file(preset_or_path, "config", SiamMAEConfig::from_json);
}

std::vector<std::string> siammae_preset_names() { return {"tiny", "small", "vits16", "vits8", "micro"}; }

}  // namespace sm
