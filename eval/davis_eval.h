// DAVIS semi-supervised video object segmentation: propagate each sequence's first-frame
// mask, write the results in the DAVIS layout (<out>/<seq>/<frame>.png, indexed with the DAVIS
// palette), and score any such results folder as davis2017-evaluation does.
#pragma once

#include <string>
#include <vector>

#include "eval/metrics.h"
#include "eval/pipeline.h"

namespace sm {

struct DavisEvalOptions {
  std::string root{};                    // --davis: holds JPEGImages/, Annotations/, ImageSets/
  std::string split = "val";             // --split
  std::string year = "2017";             // ImageSets/<year>/<split>.txt
  std::string resolution = "480p";
  std::vector<std::string> sequences{};  // only these; empty: the whole split
  double bound_th = 0.008;               // F's boundary tolerance (fraction of the diagonal, or pixels if >= 1)
  bool progress = false;                 // scoring: a progress line and one line per sequence on stderr
};

// Scores results/<seq>/<frame>.png (palette indices = object ids, the size of the annotations)
// against the annotations of every selected sequence; the first and last frames are not
// scored and need no file. Only reads: write_davis_csv (metrics.h) saves the numbers where
// the caller chooses.
DavisSummary evaluate_davis(const std::string& results, const DavisEvalOptions& options);

struct DavisPropagateOptions {
  DavisEvalOptions dataset{};
  std::string out{};                 // --out: results folder
  FrameOptions frames{};             // --size
  PropagationOptions propagation{};  // --topk, --queue, --radius, --temperature, --window (DAVIS defaults)
  bool overlay = false;              // --overlay: <out>/overlays/<seq>/<frame>.jpg and a strip <out>/overlays/<seq>.jpg
  bool progress = true;              // a progress line and one line per sequence on stderr (scoring too)
};

// Propagates every selected sequence's first mask with `features` (nullptr: the identity
// baseline, which copies the first mask to every frame), writes the results to options.out,
// then evaluates them (evaluate_davis), writes the two CSV files into options.out too and
// returns the scores.
DavisSummary propagate_davis(FrameFeatures* features, const DavisPropagateOptions& options);

}  // namespace sm
