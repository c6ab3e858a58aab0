#include "models/siammae/masking.h"

#include <cmath>

namespace sm {

int64_t visible_count(int64_t num_patches, double ratio) {
  return static_cast<int64_t>(static_cast<double>(num_patches) * (1.0 - ratio));  // truncation, as int() in Python
}

PatchMask mask_from_shuffle(const Tensor& ids_shuffle, int64_t n_keep, const Tensor& like) {
  check(ids_shuffle.dim() == 2 && ids_shuffle.dtype() == DType::I64, "mask", "ids_shuffle must be int64 (B, N), got ",
        dtype_name(ids_shuffle.dtype()), " ", fmt(ids_shuffle.shape()));
  const int64_t b = ids_shuffle.size(0), n = ids_shuffle.size(1);
  check(n_keep >= 0 && n_keep <= n, "mask", "cannot keep ", n_keep, " of ", n, " patches");
  // Each row must be a permutation of 0..N-1, or gather/argsort would silently misplace tokens.
  const std::vector<int64_t> ids = ids_shuffle.to(Device::CPU).to_vector<int64_t>();
  for (int64_t row = 0; row < b; ++row) {
    std::vector<bool> seen(n, false);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t id = ids[row * n + j];
      check(id >= 0 && id < n && !seen[id], "mask", "row ", row, " of ids_shuffle ", fmt(ids_shuffle.shape()),
            " is not a permutation of 0..", n - 1);
      seen[id] = true;
    }
  }
  PatchMask m;
  m.ids_shuffle = ids_shuffle.to(like.device());
  m.n_keep = n_keep;
  m.ids_keep = m.ids_shuffle.narrow(1, 0, n_keep).contiguous();  // (B, n_keep)
  m.ids_restore = argsort(m.ids_shuffle, 1);                      // (B, N)
  // 0 for the first n_keep shuffled positions, then 1; unshuffled to raster order.
  Tensor shuffled = ge(arange(0, static_cast<double>(n), 1, {.dtype = like.dtype(), .device = like.device()}),
                       scalar_tensor(static_cast<double>(n_keep), {.dtype = like.dtype(), .device = like.device()}))
                        .expand({b, n})
                        .contiguous();                 // (B, N)
  m.mask = gather(shuffled, 1, m.ids_restore);         // (B, N)
  return m;
}

PatchMask random_mask(int64_t batch, int64_t num_patches, double ratio, Generator& gen, const Tensor& like) {
  Tensor noise = rand({batch, num_patches}, {}, &gen);  // (B, N)
  return mask_from_shuffle(argsort(noise, 1), visible_count(num_patches, ratio), like);
}

std::vector<int64_t> grid_visible(int64_t grid, double ratio) {
  // Which patches stay: a checkerboard, or the top-left patch of every s x s block.
  std::function<bool(int64_t, int64_t)> keeps;
  const double s = std::sqrt(1.0 / (1.0 - ratio));
  if (std::abs(ratio - 0.5) < 1e-9) {
    keeps = [](int64_t i, int64_t j) { return (i + j) % 2 == 0; };
  } else if (std::isfinite(s) && std::abs(s - std::round(s)) < 1e-6) {
    const int64_t step = static_cast<int64_t>(std::round(s));
    keeps = [step](int64_t i, int64_t j) { return i % step == 0 && j % step == 0; };
  } else {
    return {};
  }
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < grid; ++i)
    for (int64_t j = 0; j < grid; ++j)
      if (keeps(i, j)) kept.push_back(i * grid + j);
  return kept;
}

PatchMask grid_mask(int64_t batch, int64_t grid, double ratio, const Tensor& like) {
  std::vector<int64_t> order = grid_visible(grid, ratio);  // the kept patches, then the masked ones
  check(!order.empty(), "mask", "grid masking needs ratio 0.5 or 1 - 1/s^2 (0.75, 0.889, 0.9375, ...), got ", ratio);
  const int64_t n_keep = static_cast<int64_t>(order.size());
  std::vector<bool> kept(grid * grid, false);
  for (int64_t p : order) kept[p] = true;
  for (int64_t p = 0; p < grid * grid; ++p)
    if (!kept[p]) order.push_back(p);
  Tensor ids = from_vector(order, {1, grid * grid}, {.dtype = DType::I64});
  return mask_from_shuffle(ids.expand({batch, grid * grid}).contiguous(), n_keep, like);
}

int64_t visible_patches(const SiamMAEConfig& config) {
  if (config.mask_kind == MaskKind::Grid) return static_cast<int64_t>(grid_visible(config.grid(), config.mask_ratio).size());
  return visible_count(config.num_patches(), config.mask_ratio);
}

PatchMask sample_mask(const SiamMAEConfig& config, double ratio, int64_t batch, Generator& gen, const Tensor& like) {
  if (config.mask_kind == MaskKind::Grid) return grid_mask(batch, config.grid(), ratio, like);
  return random_mask(batch, config.num_patches(), ratio, gen, like);
}

}  // namespace sm
