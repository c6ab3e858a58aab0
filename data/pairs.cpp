#include "data/pairs.h"

#include <algorithm>

namespace sm {

void check_gap_range(int64_t gap_min, int64_t gap_max) {
  check(gap_min >= 1 && gap_max >= gap_min, "pairs", "need 1 <= gap_min <= gap_max, got [", gap_min, ", ", gap_max,
        "]");
}

FramePair sample_frame_pair(int64_t num_frames, int64_t gap_min, int64_t gap_max, Generator& gen) {
  check_gap_range(gap_min, gap_max);
  check(num_frames > gap_min, "sample_frame_pair", "a clip of ", num_frames, " frames has no two frames ", gap_min,
        " apart");
  const int64_t gap = gen.randint(gap_min, std::min(gap_max, num_frames - 1) + 1);
  const int64_t first = gen.randint(0, num_frames - gap);
  return {first, first + gap};
}

}  // namespace sm
