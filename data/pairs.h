// SiamMAE frame pairs: which two frames of a clip form a training pair.
#pragma once

#include <cstdint>

#include "tensor/random.h"

namespace sm {

struct FramePair {
  int64_t first = 0, second = 0;  // frame indices; first < second (first is the past frame)
};

// Throws unless 1 <= gap_min <= gap_max.
void check_gap_range(int64_t gap_min, int64_t gap_max);

// The paper's sampling: gap uniform in [gap_min, gap_max] (inclusive, gap_max clamped to the
// clip's num_frames - 1), first uniform among the frames that leave room for the gap.
// Throws when the clip has no two frames gap_min apart.
FramePair sample_frame_pair(int64_t num_frames, int64_t gap_min, int64_t gap_max, Generator& gen);

}  // namespace sm
