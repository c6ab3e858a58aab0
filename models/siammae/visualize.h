// Pictures of what a SiamMAE model does: reconstructions of a masked future frame, and the
// decoder's cross-attention from future-frame patches to the past frame.
#pragma once

#include <vector>

#include "models/siammae/model.h"
#include "models/siammae/pictures.h"

namespace sm {

// Rows: f1, f2 with its masked patches grey, the reconstruction (visible patches + prediction),
// f2; one column per pair. f1, f2: (B, 3, S, S) normalized. Tiles are enlarged to >= 128 px.
Image reconstruction_grid(SiamMAE& model, const Tensor& f1, const Tensor& f2, const PairMasks& masks);

// For each query patch (row, column) of f2: f2 with the patch boxed, then f1 under a heat map
// of that patch's cross-attention weights (mean over heads) in the last decoder block, and
// averaged over all blocks. f1, f2: (1, 3, S, S) normalized. Needs a cross-self or cross decoder.
Image attention_grid(SiamMAE& model, const Tensor& f1, const Tensor& f2, const PairMasks& masks,
                     const std::vector<std::pair<int64_t, int64_t>>& query_patches);

}  // namespace sm
