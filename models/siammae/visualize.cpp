#include "models/siammae/visualize.h"

#include <string>

#include "models/siammae/patches.h"

namespace sm {

// Enlarges tiles so that small presets (64 px) are still visible.
static int64_t enlargement(const SiamMAEConfig& config) { return std::max<int64_t>(1, 128 / config.image_size); }

Image reconstruction_grid(SiamMAE& model, const Tensor& f1, const Tensor& f2, const PairMasks& masks) {
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t p = model.model_config.patch_size;
  SiamMAEOutput out = model.forward(f1, f2, masks);
  Tensor predicted = prediction_to_image(out.prediction, f2, p, model.model_config.norm_pix_loss);  // (B, 3, S, S)
  // Masked patches shown grey: 0 in normalized units is the ImageNet mean colour.
  Tensor masked = paste_masked_patches(f2, zeros_like(f2), out.mask, p);
  Tensor reconstruction = paste_masked_patches(f2, predicted, out.mask, p);
  model.train(was_training);
  const int64_t factor = enlargement(model.model_config);
  auto row = [&](const Tensor& images) {
    std::vector<Image> tiles;
    for (const Image& image : to_images(images)) tiles.push_back(upscale_nearest(image, factor));
    return tiles;
  };
  return labelled_grid({"f1 (past)", "f2 masked", "reconstruction", "f2 (future)"},
                       {row(f1), row(masked), row(reconstruction), row(f2)});
}

Image attention_grid(SiamMAE& model, const Tensor& f1, const Tensor& f2, const PairMasks& masks,
                     const std::vector<std::pair<int64_t, int64_t>>& query_patches) {
  check(f1.dim() == 4 && f1.size(0) == 1, "attention", "expects one pair (1, 3, S, S), got ", fmt(f1.shape()));
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  model.keep_cross_attention(true);
  model.forward(f1, f2, masks);
  model.keep_cross_attention(false);
  model.train(was_training);

  const SiamMAEConfig& c = model.model_config;
  const int64_t g = c.grid(), n = c.num_patches(), blocks = c.decoder_depth;
  // Each block's weights (1, H, 1 + N, 1 + M): mean over heads, queries without CLS, keys
  // without CLS -> (N, N) maps from each f2 patch to the f1 patches.
  std::vector<Tensor> maps;
  for (int64_t b = 0; b < blocks; ++b) {
    Tensor w = model.cross_attention_weights(b).to(Device::CPU);  // (1, H, 1 + N, 1 + M)
    maps.push_back(mean(w, {0, 1}).narrow(0, 1, n).narrow(1, 1, n));
  }
  Tensor average = mean(stack(maps), {0});  // (N, N)
  const int64_t factor = enlargement(c), cell = c.patch_size * factor;
  const Image past = upscale_nearest(to_images(f1)[0], factor), future = upscale_nearest(to_images(f2)[0], factor);
  auto heat = [&](const Tensor& map, int64_t query) {
    Tensor row = map.narrow(0, query, 1).reshape({g, g}).flatten();  // (g * g)
    Tensor low = min(row, 0), span = max(row, 0) - low + 1e-12;      // stretched to [0, 1] to show contrast
    return overlay_heatmap(past, ((row - low) / span).reshape({g, g}));
  };
  std::vector<std::string> labels;
  std::vector<std::vector<Image>> rows;
  for (const auto& [r, col] : query_patches) {
    check(r >= 0 && r < g && col >= 0 && col < g, "attention", "query patch (", r, ", ", col, ") is outside the ", g,
          "x", g, " grid");
    const int64_t query = r * g + col;
    Image boxed = future;
    draw_box(boxed, r * cell, col * cell, cell, cell, {255, 40, 40});
    labels.push_back("patch " + std::to_string(r) + "," + std::to_string(col));
    rows.push_back({boxed, heat(maps.back(), query), heat(average, query)});
  }
  Image grid = labelled_grid(labels, rows);
  // Column titles above the tiles.
  Image out = blank_image(grid.height + 24, grid.width);
  std::copy(grid.pixels.begin(), grid.pixels.end(), out.pixels.begin() + 24 * out.width * 3);
  const int64_t tile_w = past.width, first = grid.width - 3 * (tile_w + 4);
  const char* titles[3] = {"f2 query patch", "f1: last block", "f1: mean of blocks"};
  for (int k = 0; k < 3; ++k) draw_text(out, first + k * (tile_w + 4), 8, titles[k], 1, {40, 40, 40});
  return out;
}

}  // namespace sm
