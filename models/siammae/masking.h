// Patch masking as MAE does it: a shuffle of the patch indices, of which the first
// `n_keep` stay visible. Everything the model needs follows from `ids_shuffle`:
//   ids_keep    = ids_shuffle[:, :n_keep]           which patches the encoder sees, in shuffled order
//   ids_restore = argsort(ids_shuffle)              puts decoder tokens back in raster order
//   mask        = 0 for kept, 1 for masked patches, in raster order
// Tests feed PyTorch's ids_shuffle, so both sides mask the same patches.
#pragma once

#include "models/siammae/config.h"
#include "tensor/random.h"

namespace sm {

struct PatchMask {
  Tensor ids_shuffle;  // (B, N) int64
  Tensor ids_keep;     // (B, n_keep) int64
  Tensor ids_restore;  // (B, N) int64
  Tensor mask;         // (B, N) float, 1 = masked
  int64_t n_keep = 0;

  int64_t batch() const { return ids_shuffle.size(0); }
  int64_t num_patches() const { return ids_shuffle.size(1); }
};

// MAE's number of visible patches: int(N * (1 - ratio)).
int64_t visible_count(int64_t num_patches, double ratio);

// A mask from a given shuffle (B, N); the first n_keep entries of each row stay visible.
// `like` gives the float dtype and device of `mask`.
PatchMask mask_from_shuffle(const Tensor& ids_shuffle, int64_t n_keep, const Tensor& like);

// MAE's random masking: ids_shuffle = argsort of uniform noise (B, N), n_keep = visible_count.
PatchMask random_mask(int64_t batch, int64_t num_patches, double ratio, Generator& gen, const Tensor& like);

// The same regular pattern for every image of a grid x grid patch grid: ratio 0.5 keeps a
// checkerboard; ratio 1 - 1/s^2 (0.75, 0.889, 0.9375, ...) keeps one patch per s x s block.
PatchMask grid_mask(int64_t batch, int64_t grid, double ratio, const Tensor& like);
// The patches grid masking keeps at `ratio`, in raster order; empty when the ratio has no
// grid pattern (see grid_mask).
std::vector<int64_t> grid_visible(int64_t grid, double ratio);

// Patches of each frame the config's masking leaves visible (0 makes no model: validate()).
int64_t visible_patches(const SiamMAEConfig& config);

// The mask the config asks for (random or grid) at `ratio`.
PatchMask sample_mask(const SiamMAEConfig& config, double ratio, int64_t batch, Generator& gen, const Tensor& like);

}  // namespace sm
