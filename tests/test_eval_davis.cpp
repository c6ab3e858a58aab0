// Label propagation and the DAVIS metrics on the real sequences of ../shared/data/davis2016-val8
// (skipped with a message when that folder is absent): the annotations score exactly 1, the
// identity baseline keeps its known score, and raw-pixel features beat it on moving objects.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <set>

#include "eval/davis_eval.h"
#include "tests/fixtures.h"

using namespace sm;
using namespace sm::test;

namespace fs = std::filesystem;

TEST_CASE("real DAVIS: perfect results score 1, identity 0.250, raw pixels beat identity") {
  const std::string root = source_path("../shared/data/davis2016-val8");
  if (!fs::exists(root + "/ImageSets")) {
    MESSAGE("skipped: ", root, " is not there (the real-data checks need ../shared beside the repository)");
    return;
  }
  const fs::path out = fs::temp_directory_path() / ("sm_eval_real_davis-" + std::to_string(getpid()));
  fs::remove_all(out);
  DavisEvalOptions all;
  all.root = root;
  // The annotations as results: the metric code on real masks gives exactly 1. Scoring only
  // reads, so the shared folder holds the same files after it as before.
  auto listing = [](const std::string& folder) {
    std::set<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(folder)) names.insert(entry.path().filename());
    return names;
  };
  const std::set<std::string> annotations_before = listing(root + "/Annotations/480p");
  CHECK(evaluate_davis(root + "/Annotations/480p", all).jf_mean == 1.0);
  CHECK(listing(root + "/Annotations/480p") == annotations_before);

  // Copying the first mask: the floor. Pinned, so that any change to the metric shows.
  // Results of `features` (nullptr: identity) on `dataset`, in out/<name>.
  auto run = [&](FrameFeatures* features, const DavisEvalOptions& dataset, const std::string& name) {
    DavisPropagateOptions options;
    options.dataset = dataset;
    options.out = (out / name).string();
    options.progress = false;
    return propagate_davis(features, options);
  };
  const DavisSummary floor = run(nullptr, all, "identity");
  CHECK(floor.objects.size() == 8);
  CHECK(floor.jf_mean == doctest::Approx(0.2500).epsilon(0.002));
  CHECK(floor.j_mean == doctest::Approx(0.2555).epsilon(0.002));

  // Raw 8x8 pixel patches at native 480p on the two shortest sequences, where the objects move.
  DavisEvalOptions two = all;
  two.sequences = {"car-shadow", "scooter-black"};
  PixelFeatures pixels(8);
  const DavisSummary summary = run(&pixels, two, "pixels");
  const DavisSummary two_floor = run(nullptr, two, "identity-two");
  MESSAGE("car-shadow + scooter-black: pixels p8 J&F ", summary.jf_mean, ", identity ", two_floor.jf_mean);
  CHECK(summary.jf_mean > two_floor.jf_mean + 0.05);
  CHECK(fs::exists(out / "pixels" / "global_results-val.csv"));
  CHECK(fs::exists(out / "pixels" / "car-shadow" / "00039.png"));
  fs::remove_all(out);
}
