// Tests of the eval suite: the DAVIS, VIP and JHMDB metrics on hand-made cases whose values
// are worked out in the comments, label propagation against a literal transcription of
// videowalk's algorithm, the MAT-file reader, and the file pipelines on small synthetic data.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "autograd/autograd.h"
#include "data/davis.h"
#include "data/deflate.h"
#include "data/files.h"
#include "eval/davis_eval.h"
#include "eval/features.h"
#include "eval/jhmdb.h"
#include "eval/mat_file.h"
#include "eval/metrics.h"
#include "eval/progress.h"
#include "eval/propagation.h"
#include "eval/vip.h"
#include "tests/fixtures.h"

using namespace sm;
using namespace sm::test;

namespace {

namespace fs = std::filesystem;

// A fresh temporary folder, removed when the test ends. The process id in its name keeps
// runs from several build folders apart.
// A label map from rows of characters: '.' is 0, a digit is that id.
LabelMap map_of(const std::vector<std::string>& rows) {
  LabelMap map(static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size()));
  for (int64_t y = 0; y < map.height; ++y)
    for (int64_t x = 0; x < map.width; ++x) map.at(y, x) = rows[y][x] == '.' ? 0 : rows[y][x] - '0';
  return map;
}

// A map with one pixel of `id` at (y, x).
LabelMap dot(int64_t height, int64_t width, int64_t y, int64_t x, uint8_t id = 1) {
  LabelMap map(height, width);
  map.at(y, x) = id;
  return map;
}

int64_t ones(const LabelMap& map) { return std::count(map.labels.begin(), map.labels.end(), 1); }

}  // namespace

// ---------------------------------------------------------------- DAVIS J

TEST_CASE("J: IoU of hand-made masks, 1 when both are empty") {
  const LabelMap pred = map_of({"11..", "....", "....", "...."});  // 2 pixels
  const LabelMap truth = map_of({".1..", ".1..", ".1..", "...."});  // 3 pixels, 1 shared
  CHECK(region_similarity(pred, truth) == doctest::Approx(1.0 / 4));  // 1 / (2 + 3 - 1)
  CHECK(region_similarity(truth, truth) == 1.0);
  const LabelMap empty(4, 4);
  CHECK(region_similarity(empty, empty) == 1.0);  // the toolkit's rule for an empty union
  CHECK(region_similarity(empty, truth) == 0.0);
  CHECK(region_similarity(dot(4, 4, 3, 3), dot(4, 4, 3, 3)) == 1.0);  // a one-pixel object
  CHECK_THROWS_WITH_AS(region_similarity(LabelMap(2, 3), LabelMap(3, 2)),
                       "[region_similarity] label maps differ in size: 2x3 and 3x2", Error);
}

// ---------------------------------------------------------------- DAVIS F

TEST_CASE("seg2bmap: one pixel, the image border, a full mask") {
  // A pixel differs from its east, south or south-east neighbour: (1,1) itself and the three
  // pixels whose east / south / south-east neighbour it is.
  CHECK(boundary_map(dot(4, 4, 1, 1)).labels == map_of({"11..", "11..", "....", "...."}).labels);
  // An object on the last column: column 2 differs from its east neighbour (in every row,
  // the last row included); the object's own column is boundary only where its south
  // neighbour differs, which never happens: the image border is not a boundary.
  CHECK(boundary_map(map_of({"...1", "...1", "...1", "...1"})).labels ==
        map_of({"..1.", "..1.", "..1.", "..1."}).labels);
  // An object in the top-left corner: each of its pixels has a background east, south or
  // south-east neighbour, and no background pixel has an object pixel there: the object
  // itself is the boundary, and the image border adds nothing.
  CHECK(boundary_map(map_of({"11..", "1...", "....", "...."})).labels ==
        map_of({"11..", "1...", "....", "...."}).labels);
  CHECK(ones(boundary_map(LabelMap(5, 6, 1))) == 0);  // a mask filling the image has no boundary
  // A bottom-right pixel is never boundary itself; its west, north and north-west neighbours are.
  CHECK(boundary_map(dot(4, 4, 3, 3)).labels == map_of({"....", "....", "..11", "..1."}).labels);
  // Last row: the pixel (against its east neighbour), its west neighbour, and the two above-left.
  CHECK(boundary_map(dot(4, 4, 3, 2)).labels == map_of({"....", "....", ".11.", ".11."}).labels);
}

TEST_CASE("F: disk tolerance, hand-computed precision and recall") {
  CHECK(boundary_tolerance(480, 854) == 8);  // ceil(0.008 * 979.65)
  CHECK(boundary_tolerance(480, 880) == 9);  // ceil(0.008 * 1002.4)
  CHECK(boundary_tolerance(20, 20) == 1);    // ceil(0.008 * 28.3)
  CHECK(boundary_tolerance(480, 854, 3) == 3);
  CHECK(ones(dilate_disk(dot(40, 40, 20, 20), 8)) == 197);  // skimage disk(8): 197 ones
  CHECK(ones(dilate_disk(dot(40, 40, 20, 20), 1)) == 5);    // a plus sign
  CHECK(ones(dilate_disk(dot(40, 40, 0, 0), 1)) == 3);      // clipped at the corner

  // Two one-pixel objects two columns apart in a 20x20 image (tolerance 1 px, a plus sign).
  // Boundaries: truth {(4,4),(4,5),(5,4),(5,5)}, prediction {(4,6),(4,7),(5,6),(5,7)}.
  // Prediction pixels with a truth pixel within 1: (4,6) and (5,6) -> precision 2/4;
  // likewise recall 2/4; F = 0.5.
  const LabelMap truth = dot(20, 20, 5, 5), pred = dot(20, 20, 5, 7);
  CHECK(boundary_measure(pred, truth) == doctest::Approx(0.5));
  // With 2 pixels of tolerance every boundary pixel finds a partner: F = 1.
  CHECK(boundary_measure(pred, truth, 2.0) == doctest::Approx(1.0));
  // Empty boundaries: both empty -> 1; one empty -> precision or recall 0 -> F = 0.
  const LabelMap empty(20, 20);
  CHECK(boundary_measure(empty, empty) == 1.0);
  CHECK(boundary_measure(empty, truth) == 0.0);
  CHECK(boundary_measure(truth, empty) == 0.0);
  CHECK(boundary_measure(LabelMap(20, 20, 1), truth) == 0.0);  // a full mask has no boundary either
  CHECK(boundary_measure(truth, truth) == 1.0);
}

TEST_CASE("db_statistics: mean, recall and the 4-bin decay, NaN-aware") {
  // n = 8: linspace(1, 8, 5) = 1, 2.75, 4.5, 6.25, 8 -> rounded 1, 3, 5, 6, 8 -> edges 0, 2, 4, 5, 7.
  // First bin v[0..2] = (1, 1, 0), last bin v[5..7] = (0.4, 1, 0): decay 2/3 - 1.4/3 = 0.2.
  const std::vector<double> values{1, 1, 0, 0, 0.6, 0.4, 1, 0};
  const Statistics s = db_statistics(values);
  CHECK(s.mean == doctest::Approx(0.5));
  CHECK(s.recall == doctest::Approx(0.5));  // 1, 1, 0.6, 1 are above 0.5
  CHECK(s.decay == doctest::Approx(0.2));
  const Statistics with_nan = db_statistics({1, NAN, 0});
  CHECK(with_nan.mean == doctest::Approx(0.5));
  CHECK(with_nan.recall == doctest::Approx(1.0 / 3));  // NaN > 0.5 is false but still counted, as in NumPy
  // n = 3: edges round(1, 1.5, 2, 2.5, 3) - 1 = 0, 1, 1, 2, 2: first bin (1, NaN), last bin (0).
  CHECK(with_nan.decay == doctest::Approx(1.0));
  const Statistics single = db_statistics({0.7});
  CHECK(single.mean == doctest::Approx(0.7));
  CHECK(single.decay == 0.0);
}

TEST_CASE("DAVIS sequence scoring: first and last frames skipped, perfect = 1, the CSV files") {
  // Two objects over 4 frames; only frames 1 and 2 are scored.
  const std::vector<LabelMap> truth{map_of({"11..", "..2.", "...."}), map_of({".11.", "..2.", "...."}),
                                    map_of({"..11", "...2", "...."}), map_of({"....", "....", "...."})};
  std::vector<LabelMap> perfect = truth;
  perfect[0] = perfect[3] = LabelMap();  // never read
  const DavisSummary best = summarize_davis(score_davis_sequence("toy", truth, perfect));
  CHECK(best.jf_mean == 1.0);
  CHECK(best.j_recall == 1.0);
  CHECK(best.f_decay == 0.0);
  REQUIRE(best.objects.size() == 2);
  CHECK(best.objects[1].name == "toy_2");

  // Predict frame 1 perfectly and frame 2 empty: J per object = (1, 0): mean 0.5, recall 0.5,
  // decay (bins (1, 0), (0), (0), (0)... edges round(1, 1.25, 1.5, 1.75, 2) - 1 = 0, 0, 1, 1, 1:
  // first bin v[0..0] = 1, last bin v[1..1] = 0: decay 1.
  std::vector<LabelMap> half = perfect;
  half[2] = LabelMap(3, 4);
  const std::vector<ObjectScores> scores = score_davis_sequence("toy", truth, half);
  CHECK(scores[0].j == std::vector<double>{1.0, 0.0});
  const DavisSummary summary = summarize_davis(scores);
  CHECK(summary.j_mean == doctest::Approx(0.5));
  CHECK(summary.j_decay == doctest::Approx(1.0));

  TempDir dir("sm_eval_csv");
  const std::string folder = dir.path.string();
  write_davis_csv(summary, folder, "val");
  std::ifstream global(folder + "/global_results-val.csv");
  std::stringstream text;
  text << global.rdbuf();
  CHECK(text.str() == "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n0.500,0.500,0.500,1.000,0.500,0.500,1.000\n");
  std::ifstream per_sequence(folder + "/per-sequence_results-val.csv");
  std::string header, first;
  std::getline(per_sequence, header);
  std::getline(per_sequence, first);
  CHECK(header == "Sequence,J-Mean,F-Mean");
  CHECK(first == "toy_1,0.500,0.500");

  // Void (255) in the truth is background; a predicted id the sequence lacks is an error.
  std::vector<LabelMap> with_void = truth;
  with_void[1].at(2, 0) = 255;
  CHECK(summarize_davis(score_davis_sequence("toy", with_void, perfect)).jf_mean == 1.0);
  std::vector<LabelMap> extra = perfect;
  extra[1].at(2, 0) = 3;
  CHECK_THROWS_WITH_AS(score_davis_sequence("toy", truth, extra),
                       "[davis] toy frame 1: predicted object id 3 but the sequence has 2 objects", Error);
}

// ---------------------------------------------------------------- VIP and JHMDB metrics

TEST_CASE("VIP: confusion matrix and NaN-mean IoU") {
  // truth 0 0 1 1 255, prediction 0 1 1 1 0 (the 255 pixel is ignored). Counts: (0,0) 1,
  // (0,1) 1, (1,1) 2. IoU_0 = 1 / (2 + 1 - 1) = 1/2; IoU_1 = 2 / (2 + 3 - 2) = 2/3; class 2 is
  // absent from both (NaN) and left out of the mean: mIoU = 7/12.
  LabelMap truth(1, 5), pred(1, 5);
  truth.labels = {0, 0, 1, 1, 255};
  pred.labels = {0, 1, 1, 1, 0};
  ConfusionMatrix confusion(3);
  confusion.add(truth, pred);
  const std::vector<double> iou = confusion.iou();
  CHECK(iou[0] == doctest::Approx(0.5));
  CHECK(iou[1] == doctest::Approx(2.0 / 3));
  CHECK(std::isnan(iou[2]));
  CHECK(confusion.mean_iou() == doctest::Approx(7.0 / 12));
  ConfusionMatrix perfect(20);
  perfect.add(truth, truth);
  CHECK(perfect.mean_iou() == 1.0);
  pred.labels[0] = 7;
  CHECK_THROWS_WITH_AS(confusion.add(truth, pred), "[vip] predicted class 7 but there are only 3 classes", Error);
}

TEST_CASE("JHMDB: PCK with the 0.6 x box-diagonal normalizer") {
  // Two joints at (0, 0) and (10, 0): box = 0.6 * 10 = 6. Frame 1 predictions are 0.5 and 1
  // pixel off: d = 0.083 and 0.167. PCK@0.1 = (100 + 0) / 2; PCK@0.2 = 100. Frame 0 is not scored.
  const Pose truth{{0, 0}, {10, 0}};
  const std::vector<Pose> truths{truth, truth};
  const std::vector<Pose> preds{{{50, 50}, {50, 50}}, {{0.5, 0}, {11, 0}}};
  PckMeter meter(2);
  meter.add_video(preds, truths);
  CHECK(meter.pck(0.1) == doctest::Approx(50));
  CHECK(meter.pck(0.2) == doctest::Approx(100));
  CHECK(meter.per_joint(0.1) == std::vector<double>{100, 0});
  // A lost joint is skipped and does not count in the box: with only joint 0 left the box is
  // empty (0), so joint 0's distance is 0.5 / 0 = inf: wrong at every threshold.
  PckMeter lost(2);
  lost.add_video({preds[0], {{0.5, 0}, {0, 0, false}}}, truths);
  CHECK(lost.per_joint(0.5)[0] == 0.0);
  CHECK(std::isnan(lost.per_joint(0.5)[1]));
  PckMeter perfect(2);
  perfect.add_video(truths, truths);
  CHECK(perfect.pck(0.1) == 100.0);
}

// ---------------------------------------------------------------- features

TEST_CASE("pixel features: patches in (row, column, channel) order; evaluation frame sizes") {
  Tensor frame = arange(0, 3 * 4 * 6).reshape({3, 4, 6});  // (3, H, W)
  PixelFeatures pixels(2);
  Tensor f = pixels.extract(frame);  // (2, 3, 12)
  CHECK(f.shape() == Shape{2, 3, 12});
  // Cell (1, 2) covers rows 2..3, columns 4..5; its first vector entries are pixel (2, 4) in
  // channels 0, 1, 2, then pixel (2, 5).
  const std::vector<float> cell = f.narrow(0, 1, 1).narrow(1, 2, 1).flatten().to_vector<float>();
  CHECK(cell[0] == 2 * 6 + 4);
  CHECK(cell[1] == 24 + 2 * 6 + 4);
  CHECK(cell[2] == 48 + 2 * 6 + 4);
  CHECK(cell[3] == 2 * 6 + 5);
  CHECK(pixels.name() == "pixels-p2");
  CHECK_THROWS_WITH_AS(pixels.extract(zeros({3, 5, 6})),
                       "[PixelFeatures] frame (3, 5, 6) is not a multiple of the patch size 2", Error);

  auto size = [](int64_t h, int64_t w, int64_t s, int64_t stride, bool square = false) {
    const FrameSize f = evaluation_frame_size(h, w, s, stride, square);
    return std::pair{f.height, f.width};
  };
  CHECK(size(480, 854, 480, 16) == std::pair<int64_t, int64_t>{480, 848});
  CHECK(size(480, 854, 480, 8) == std::pair<int64_t, int64_t>{480, 848});
  CHECK(size(480, 854, 240, 8) == std::pair<int64_t, int64_t>{240, 424});  // 427 -> 424
  CHECK(size(854, 480, 480, 16) == std::pair<int64_t, int64_t>{848, 480});  // portrait
  CHECK(size(240, 320, 320, 16, true) == std::pair<int64_t, int64_t>{320, 320});
}

// ---------------------------------------------------------------- propagation

namespace {

// videowalk's propagation step written out literally, for one target frame: the context is
// the first frame plus the queue entries (duplicates included), restricted entries get -1e10
// outside the neighbourhood, then top-k over all positions, softmax, weighted sum.
Tensor reference_step(const std::vector<Tensor>& feats, const std::vector<Tensor>& labels,
                      const std::vector<bool>& restricted, const Tensor& target, const PropagationOptions& o) {
  const int64_t h = target.size(0), w = target.size(1), n = h * w, k_labels = labels[0].size(2);
  std::vector<float> out(n * k_labels, 0.0f);
  Tensor q = l2_normalize(target).reshape({n, -1});
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, const float*>> all;
    for (size_t s = 0; s < feats.size(); ++s) {
      Tensor kf = l2_normalize(feats[s]).reshape({n, -1});
      Tensor a = matmul(q.narrow(0, i, 1), kf.t()).flatten();  // (N)
      const std::vector<float> av = a.to_vector<float>();
      const float* lab = labels[s].contiguous().data<float>();
      for (int64_t j = 0; j < n; ++j) {
        const int64_t dy = j / w - i / w, dx = j % w - i % w;
        const bool in = o.window == Neighborhood::Circle
                            ? std::sqrt(double(dy * dy + dx * dx)) < o.radius
                            : std::max(std::abs(dy), std::abs(dx)) <= o.radius;
        all.push_back({restricted[s] && !in ? -1e10 : av[j], lab + j * k_labels});
      }
    }
    std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first > b.first; });
    double total = 0;
    for (int64_t r = 0; r < o.topk; ++r) total += std::exp((all[r].first - all[0].first) / o.temperature);
    for (int64_t r = 0; r < o.topk; ++r)
      for (int64_t c = 0; c < k_labels; ++c)
        out[i * k_labels + c] += std::exp((all[r].first - all[0].first) / o.temperature) / total * all[r].second[c];
  }
  return from_vector(out, {h, w, k_labels});
}

// Runs both implementations through a random video and returns the largest difference.
double compare_with_reference(const PropagationOptions& o, int64_t frames, int64_t h, int64_t w) {
  manual_seed(7);
  std::vector<Tensor> video;
  for (int64_t t = 0; t < frames; ++t) video.push_back(randn({h, w, 5}));
  Tensor labels0 = softmax(randn({h, w, 3}) * 3.0, -1);
  LabelPropagator propagator(o);
  propagator.start(video[0], labels0);
  // The reference keeps the literal list: first frame, then the queue with its padding.
  std::vector<Tensor> queue_feats, queue_labels;
  if (o.pad_queue)
    for (int64_t c = 0; c < o.queue; ++c) queue_feats.push_back(video[0]), queue_labels.push_back(labels0);
  double worst = 0;
  for (int64_t t = 1; t < frames; ++t) {
    std::vector<Tensor> feats{video[0]}, labs{labels0};
    std::vector<bool> restricted{o.restrict_first_frame && o.radius > 0};
    for (size_t s = 0; s < queue_feats.size(); ++s)
      feats.push_back(queue_feats[s]), labs.push_back(queue_labels[s]), restricted.push_back(o.radius > 0);
    Tensor expected = reference_step(feats, labs, restricted, video[t], o);
    Tensor got = propagator.step(video[t]);
    worst = std::max(worst, max(abs(got - expected).flatten(), 0).item());
    queue_feats.push_back(video[t]), queue_labels.push_back(got);
    if (static_cast<int64_t>(queue_feats.size()) > o.queue) queue_feats.erase(queue_feats.begin()), queue_labels.erase(queue_labels.begin());
  }
  return worst;
}

}  // namespace

TEST_CASE("propagation equals videowalk's algorithm written out literally") {
  NoGradGuard no_grad;
  PropagationOptions crw{.topk = 4, .queue = 3, .radius = 2.5, .temperature = 0.7, .tile = 3};
  CHECK(compare_with_reference(crw, 6, 7, 9) < 1e-5);
  PropagationOptions dino = PropagationOptions::dino();
  dino.queue = 2, dino.radius = 2, dino.tile = 4;
  CHECK(compare_with_reference(dino, 5, 6, 5) < 1e-5);
  PropagationOptions unrestricted{.topk = 10, .queue = 2, .radius = 0, .temperature = 0.1, .pad_queue = false};
  CHECK(compare_with_reference(unrestricted, 4, 5, 6) < 1e-5);
}

TEST_CASE("propagation: queue padding, circle vs square, tiles do not change the result") {
  NoGradGuard no_grad;
  // A 1x2 grid. The target's affinities to the first frame's two cells are 0.8 and 0.6.
  Tensor f0 = from_vector(std::vector<float>{1, 0, 0, 1}, {1, 2, 2});
  Tensor l0 = from_vector(std::vector<float>{1, 0, 0, 1}, {1, 2, 2});
  Tensor target = from_vector(std::vector<float>{0.8f, 0.6f, 0.8f, 0.6f}, {1, 2, 2});
  // Padded queue (CRW): the 0.8 cell is a candidate twice (first frame + its queue copy), so
  // top-2 keeps it twice and the label is exactly cell 0's.
  LabelPropagator padded({.topk = 2, .queue = 1, .radius = 0});
  padded.start(f0, l0);
  CHECK(padded.step(target).to_vector<float>()[0] == doctest::Approx(1.0));
  // Without padding: softmax([0.8, 0.6] / 0.7) -> 1 / (1 + exp(-0.2 / 0.7)) = 0.5709.
  LabelPropagator plain({.topk = 2, .queue = 1, .radius = 0, .pad_queue = false});
  plain.start(f0, l0);
  CHECK(plain.step(target).to_vector<float>()[0] == doctest::Approx(1 / (1 + std::exp(-0.2 / 0.7))));

  // A 1x5 grid; the target at x = 0 matches x = 4 best and x = 1 second. Radius 4 restricts
  // the first frame too (restrict_first_frame): the circle (d < 4) excludes x = 4, the square
  // (|dx| <= 4) keeps it. Top-1, so the label is the one cell's.
  std::vector<float> source(5 * 2, 0.0f), target_cell(5 * 2, 0.0f), cell_labels(5 * 2, 0.0f);
  source[4 * 2 + 0] = 1, source[1 * 2 + 0] = 0.5f, source[1 * 2 + 1] = 0.5f, source[2 * 2 + 1] = 1;
  target_cell[0] = 1;
  for (int x = 0; x < 5; ++x) cell_labels[x * 2 + (x == 4 ? 1 : 0)] = 1;  // x = 4 has label 1, the rest label 0
  auto label_at_0 = [&](Neighborhood window) {
    LabelPropagator p({.topk = 1, .queue = 0, .radius = 4, .window = window, .restrict_first_frame = true});
    p.start(from_vector(source, {1, 5, 2}), from_vector(cell_labels, {1, 5, 2}));
    return p.step(from_vector(target_cell, {1, 5, 2})).to_vector<float>()[1];
  };
  CHECK(label_at_0(Neighborhood::Circle) == 0.0f);
  CHECK(label_at_0(Neighborhood::Square) == 1.0f);

  // Tile size only changes how the work is split.
  manual_seed(3);
  Tensor a = randn({9, 11, 6}), b = randn({9, 11, 6}), labels = softmax(randn({9, 11, 2}), -1);
  std::vector<Tensor> results;
  for (int64_t tile : {1, 4, 32}) {
    LabelPropagator p({.radius = 3, .tile = tile});
    p.start(a, labels);
    results.push_back(p.step(b));
  }
  CHECK(max(abs(results[0] - results[1]).flatten(), 0).item() < 1e-6);
  CHECK(max(abs(results[0] - results[2]).flatten(), 0).item() < 1e-6);

  LabelPropagator unstarted;
  CHECK_THROWS_WITH_AS(unstarted.step(a), "[propagation] step() before start()", Error);
  padded.start(f0, l0);
  CHECK_THROWS_WITH_AS(padded.step(a), "[propagation] frame features (9, 11, 6) do not match the first frame's (1, 2, 2)",
                       Error);
}

TEST_CASE("propagation with features that identify each position reproduces a moving mask exactly") {
  NoGradGuard no_grad;
  // The scene pans one cell right and one cell down per frame on a torus; each cell's feature
  // is a one-hot code of the scene point it shows, so every point is found again exactly. The
  // mask (a 3x4 block) moves with the scene; the propagated labels must follow it.
  const int64_t h = 8, w = 10, frames = 12;
  auto scene_point = [&](int64_t t, int64_t y, int64_t x) { return ((y - t) % h + h) % h * w + ((x - t) % w + w) % w; };
  auto features = [&](int64_t t) {
    std::vector<float> f(h * w * h * w, 0.0f);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) f[(y * w + x) * h * w + scene_point(t, y, x)] = 1;
    return from_vector(f, {h, w, h * w});
  };
  auto in_mask = [&](int64_t t, int64_t y, int64_t x) {
    const int64_t p = scene_point(t, y, x), py = p / w, px = p % w;
    return py >= 2 && py < 5 && px >= 3 && px < 7;
  };
  std::vector<float> labels0(h * w * 2);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) labels0[(y * w + x) * 2 + (in_mask(0, y, x) ? 1 : 0)] = 1;
  // Low temperature: only exact matches carry weight.
  LabelPropagator propagator({.topk = 7, .queue = 4, .radius = 3, .temperature = 0.01});
  propagator.start(features(0), from_vector(labels0, {h, w, 2}));
  for (int64_t t = 1; t < frames; ++t) {
    const std::vector<float> got = propagator.step(features(t)).to_vector<float>();
    int64_t wrong = 0;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) wrong += std::abs(got[(y * w + x) * 2 + 1] - (in_mask(t, y, x) ? 1.0f : 0.0f)) > 1e-4f;
    CAPTURE(t);
    CHECK(wrong == 0);
  }
}

// ---------------------------------------------------------------- MAT-files

namespace {

using Bytes = std::vector<uint8_t>;

template <typename T> void put(Bytes& out, T value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

// One data element: tag + data, padded to 8 bytes; data of up to 4 bytes in the small format.
Bytes element(uint32_t type, const Bytes& data, bool allow_small = true) {
  Bytes out;
  if (allow_small && data.size() <= 4) {
    put<uint32_t>(out, static_cast<uint32_t>(data.size()) << 16 | type);
    out.insert(out.end(), data.begin(), data.end());
    out.resize(8, 0);
    return out;
  }
  put<uint32_t>(out, type);
  put<uint32_t>(out, static_cast<uint32_t>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
  out.resize((out.size() + 7) / 8 * 8, 0);
  return out;
}

// A MAT v5 variable: class 6 (double) stored as miDOUBLE, or as miUINT8 when `as_uint8`
// (MATLAB stores small integer-valued doubles that way), or class 4 (char) as miUINT16.
struct MatVariable {
  std::string name;
  std::vector<int32_t> dims;
  std::vector<double> values;
  enum { Double, DoubleAsUint8, Char } kind = Double;
};

Bytes matrix_element(const MatVariable& v) {
  Bytes flags, dims, name(v.name.begin(), v.name.end()), real;
  put<uint32_t>(flags, v.kind == MatVariable::Char ? 4 : 6);
  put<uint32_t>(flags, 0);
  for (int32_t d : v.dims) put<int32_t>(dims, d);
  for (double x : v.values) {
    if (v.kind == MatVariable::Double) put<double>(real, x);
    if (v.kind == MatVariable::DoubleAsUint8) put<uint8_t>(real, static_cast<uint8_t>(x));
    if (v.kind == MatVariable::Char) put<uint16_t>(real, static_cast<uint16_t>(x));
  }
  const uint32_t real_type = v.kind == MatVariable::Double ? 9 : v.kind == MatVariable::Char ? 4 : 2;
  Bytes body = element(6, flags, false);
  for (const Bytes& part : {element(5, dims, false), element(1, name), element(real_type, real)})
    body.insert(body.end(), part.begin(), part.end());
  return element(14, body, false);
}

// A MAT v5 file holding `variables`, each wrapped in a zlib-compressed element when `compress`.
void write_mat(const std::string& path, const std::vector<MatVariable>& variables, bool compress) {
  // Header: 116 bytes of text, 8 of subsystem offset, version 0x0100, endian mark "IM".
  Bytes out(128, ' ');
  const std::string text = "MATLAB 5.0 MAT-file, written by the eval tests";
  std::copy(text.begin(), text.end(), out.begin());
  std::fill(out.begin() + 116, out.begin() + 124, 0);
  out[124] = 0x00, out[125] = 0x01, out[126] = 'I', out[127] = 'M';
  for (const MatVariable& v : variables) {
    Bytes matrix = matrix_element(v);
    if (compress) {  // as MATLAB's -v7 files are
      const Bytes packed = zlib_compress(matrix);
      put<uint32_t>(out, 15);
      put<uint32_t>(out, static_cast<uint32_t>(packed.size()));
      matrix = packed;  // compressed elements are not padded
    }
    out.insert(out.end(), matrix.begin(), matrix.end());
  }
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(out.data()), out.size());
}

// JHMDB's joint_positions.mat: pos_img (2, 15, frames) in 1-based pixels, plus other variables.
std::vector<MatVariable> jhmdb_variables(const std::vector<double>& pos_img, int32_t frames) {
  return {{"viewpoint", {1, 1}, {'E'}, MatVariable::Char},
          {"pos_img", {2, 15, frames}, pos_img},
          {"scale", {1, frames}, std::vector<double>(frames, 3.0), MatVariable::DoubleAsUint8}};
}

}  // namespace

TEST_CASE("MAT v5 reader: plain and compressed elements, small elements, clear errors") {
  TempDir temp("sm_eval_mat");
  const fs::path& dir = temp.path;
  std::vector<double> pos(2 * 15 * 3);
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = 0.5 * i + 1;
  for (bool compress : {false, true}) {
    CAPTURE(compress);
    const std::string path = (dir / "joints.mat").string();
    write_mat(path, jhmdb_variables(pos, 3), compress);
    const std::map<std::string, MatArray> arrays = read_mat_file(path);
    CHECK(arrays.size() == 2);  // the char array is skipped
    const MatArray& p = arrays.at("pos_img");
    CHECK(p.dims == std::vector<int64_t>{2, 15, 3});
    CHECK(p.at({1, 0, 0}) == pos[1]);           // column-major: (1, 0, 0) is the second value
    CHECK(p.at({0, 2, 1}) == pos[0 + 2 * 2 + 30 * 1]);
    CHECK(arrays.at("scale").values == std::vector<double>{3, 3, 3});  // stored as uint8
    CHECK_THROWS_WITH_AS(p.at({2, 0, 0}), "[mat] index 2 out of range for dim 0 of size 2", Error);
    CHECK_THROWS_WITH_AS(read_mat_array(path, "pos_world"),
                         ("[mat] " + path + ": no numeric variable 'pos_world' (numeric variables: pos_img, scale)").c_str(),
                         Error);
  }
  // A truncated file, an HDF5-based 7.3 file, and something that is no MAT-file at all.
  const std::string path = (dir / "bad.mat").string();
  write_mat(path, jhmdb_variables(pos, 3), false);
  fs::resize_file(path, 220);  // inside pos_img, which starts at byte 200
  CHECK_THROWS_WITH_AS(read_mat_file(path), ("[mat] " + path + ": file ends inside a data element").c_str(), Error);
  std::ofstream(path) << std::string("MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .") + std::string(100, ' ');
  CHECK_THROWS_WITH_AS(read_mat_file(path),
                       ("[mat] " + path + ": MATLAB 7.3 (HDF5) files are not supported; save with -v7").c_str(), Error);
  std::ofstream(path) << std::string(200, 'x');
  CHECK_THROWS_WITH_AS(read_mat_file(path), ("[mat] " + path + ": not a MAT-file (no 'MATLAB' header)").c_str(), Error);
}

// ---------------------------------------------------------------- DAVIS files

namespace {

// Rewrites every sequence of a DAVIS folder as a static video: all frames and masks are
// copies of frame 0's.
void make_static(const std::string& root) {
  for (const DavisSequence& sequence : DavisDataset::open(root).sequences)
    for (size_t t = 1; t < sequence.frame_paths.size(); ++t) {
      fs::copy_file(sequence.frame_paths[0], sequence.frame_paths[t], fs::copy_options::overwrite_existing);
      fs::copy_file(sequence.mask_paths[0], sequence.mask_paths[t], fs::copy_options::overwrite_existing);
    }
}

}  // namespace

TEST_CASE("DAVIS files: perfect results score 1, identity on a static video scores 1, pixels track motion") {
  TempDir dir("sm_eval_davis");
  write_synthetic_davis(dir / "moving", {.sequences = 2, .frames = 8, .height = 64, .width = 96, .objects = 2});
  DavisEvalOptions dataset{.root = dir / "moving"};

  // The annotations themselves, as results. Scoring only reads: the CSV files go where the
  // caller says.
  fs::copy(dir / "moving/Annotations/480p", dir / "perfect", fs::copy_options::recursive);
  const DavisSummary perfect = evaluate_davis(dir / "perfect", dataset);
  CHECK(perfect.jf_mean == 1.0);
  CHECK(perfect.objects.size() == 4);  // 2 sequences x 2 objects
  CHECK_FALSE(fs::exists(dir / "perfect/global_results-val.csv"));
  write_davis_csv(perfect, dir / "scores", "val");
  CHECK(fs::exists(dir / "scores/global_results-val.csv"));
  CHECK(fs::exists(dir / "scores/per-sequence_results-val.csv"));
  CHECK_FALSE(fs::exists(dir / "scores/global_results-val.csv.tmp"));

  // Identity on static videos: every frame equals the first.
  fs::copy(dir / "moving", dir / "static", fs::copy_options::recursive);
  make_static(dir / "static");
  DavisPropagateOptions identity{.dataset = {.root = dir / "static"}, .out = dir / "identity", .progress = false};
  CHECK(propagate_davis(nullptr, identity).jf_mean == 1.0);
  CHECK(fs::exists(dir / "identity/global_results-val.csv"));  // propagation scores into its --out

  // On moving shapes the identity baseline loses, and raw pixel patches (p4 on this small
  // video) follow the shapes better. Results are in the DAVIS layout, with overlays.
  DavisPropagateOptions moving{.dataset = dataset, .out = dir / "pixels", .overlay = true, .progress = false};
  moving.frames.size = 64;
  PixelFeatures pixels(4);
  const DavisSummary tracked = propagate_davis(&pixels, moving);
  moving.out = dir / "still";
  const DavisSummary still = propagate_davis(nullptr, moving);
  MESSAGE("synthetic DAVIS J&F: identity ", still.jf_mean, ", pixels p4 ", tracked.jf_mean);
  CHECK(still.jf_mean < 0.9);
  CHECK(tracked.jf_mean > still.jf_mean);
  const DavisSequence first = DavisDataset::open(dataset.root).sequences[0];
  const std::string frame = file_stem(first.frame_paths[3]);
  const IndexedImage result = read_indexed_png(dir / ("pixels/" + first.name + "/" + frame + ".png"));
  CHECK(result.height == 64);
  CHECK(result.palette == davis_palette());
  CHECK(fs::exists(dir / ("pixels/overlays/" + first.name + "/" + frame + ".jpg")));
  CHECK(fs::exists(dir / ("pixels/overlays/" + first.name + ".jpg")));

  // A missing result file, or one of the wrong size, is named in the error.
  fs::remove(dir / ("perfect/" + first.name + "/" + frame + ".png"));
  CHECK_THROWS_WITH_AS(evaluate_davis(dir / "perfect", dataset),
                       ("[davis] result " + dir / ("perfect/" + first.name + "/" + frame + ".png") + " not found").c_str(),
                       Error);
}

// ---------------------------------------------------------------- VIP files

TEST_CASE("VIP files: videowalk's list format, greyscale class-id results, mIoU") {
  TempDir dir("sm_eval_vip");
  // Synthetic videos laid out as VIP_Fine: the shapes' ids become part classes.
  write_synthetic_davis(dir / "davis", {.sequences = 2, .frames = 5, .height = 48, .width = 64, .objects = 2});
  std::ofstream list(dir / "vip_vallist.txt");
  for (const DavisSequence& sequence : DavisDataset::open(dir / "davis").sequences) {
    const std::string video = "videos" + std::to_string(sequence.name.size());
    for (size_t t = 0; t < sequence.frame_paths.size(); ++t) {
      const std::string stem = "00000" + std::to_string(t + 1);
      write_jpeg(dir / ("VIP_Fine/Images/" + video + "/" + stem + ".jpg"), read_image(sequence.frame_paths[t]));
      write_indexed_png(dir / ("VIP_Fine/Annotations/Category_ids/" + video + "/" + stem + ".png"),
                        {48, 64, read_indexed_png(sequence.mask_paths[t]).indices, {}});
    }
    list << "VIP_Fine/Images/" << video << " VIP_Fine/Annotations/Category_ids/" << video << "\n";
  }
  list.close();
  VipOptions options{.root = dir.path.string(), .list = dir / "vip_vallist.txt", .out = dir / "results", .progress = false};
  options.frames.size = 48;
  PixelFeatures pixels(4);
  const double miou = propagate_vip(pixels, options).mean_iou();
  MESSAGE("synthetic VIP mIoU, pixels p4: ", miou);
  CHECK(miou > 0.5);
  CHECK(miou < 1.0);
  const std::vector<VipVideo> videos = vip_videos(options);
  REQUIRE(videos.size() == 2);
  const IndexedImage result = read_indexed_png(dir / ("results/" + videos[0].name + "/000002.png"));
  CHECK(result.palette.empty());  // greyscale: the grey value is the class id
  CHECK(result.height == 48);

  // The annotations as results score 1, also at half size (resized back with nearest
  // neighbours) and with a list of plain video names relative to the VIP_Fine folder.
  VipOptions names{.root = dir / "VIP_Fine", .list = dir / "names.txt"};
  std::ofstream(names.list) << videos[0].name << "\n\n" << videos[1].name << "\n";
  for (const VipVideo& video : videos)
    for (const std::string& f : list_frame_files(video.label_folder)) {
      const LabelMap truth = read_label_map(video.label_folder + "/" + f);
      write_indexed_png(dir / ("perfect/" + video.name + "/" + f), indexed_image_of(resize_nearest(truth, 24, 32), {}));
    }
  // Shapes at half size lose a little at their edges.
  const double half = evaluate_vip(dir / "perfect", names).mean_iou();
  CHECK(half > 0.8);
  for (const VipVideo& video : videos) fs::copy(video.label_folder, dir / ("perfect/" + video.name),
             fs::copy_options::overwrite_existing | fs::copy_options::recursive);
  CHECK(evaluate_vip(dir / "perfect", names).mean_iou() == 1.0);
  CHECK_THROWS_WITH_AS(vip_videos({.root = dir / "VIP_Fine", .list = dir / "vip_vallist.txt"}),
                       ("[vip] video " + videos[0].name + ": missing folder " +
                        (fs::path(dir / "VIP_Fine") / ("VIP_Fine/Images/" + videos[0].name)).string())
                           .c_str(),
                       Error);
}

// ---------------------------------------------------------------- JHMDB

TEST_CASE("JHMDB heatmaps and keypoints: pose-hg-train's Gaussian, top-k weighted mean") {
  // sigma 0.5: a 4x4 patch exp(-2 d^2) whose peak sits at the rounded position.
  const Tensor maps = joint_heatmaps({{3.2, 2.0}, {-5, 1}, {0.3, 0.3}}, 6, 8, 0.5);  // (6, 8, 3)
  auto at = [&](int64_t y, int64_t x, int64_t j) { return maps.narrow(0, y, 1).narrow(1, x, 1).narrow(2, j, 1).item(); };
  CHECK(at(2, 3, 0) == doctest::Approx(1.0));
  CHECK(at(2, 4, 0) == doctest::Approx(std::exp(-2.0)));
  CHECK(at(1, 2, 0) == doctest::Approx(std::exp(-4.0)));
  CHECK(at(2, 5, 0) == 0.0);                            // the patch spans offsets -2..1 only
  CHECK(at(0, 1, 0) == doctest::Approx(std::exp(-16.0)));  // offset (-2, -2)
  CHECK(sum(maps.narrow(2, 1, 1)).item() == 0.0);         // off the grid: nothing drawn
  // Near the corner the patch starts at int(0.3 - 1.5) = -1 (truncation toward zero), so the
  // peak lands on (1, 1), not (0, 0): the original's quirk, kept.
  CHECK(at(1, 1, 2) == doctest::Approx(1.0));
  CHECK(at(0, 0, 2) == doctest::Approx(std::exp(-4.0)));

  // Keypoints: top-2 cells of joint 0 are (2, 3) with 1 and (2, 4) with e^-2 (tied with 3
  // others; the mean of those below does not matter at top-1). Top-1 gives the peak exactly.
  const Pose top1 = heatmap_keypoints(maps, 1);
  CHECK(top1[0].x == 3.0);
  CHECK(top1[0].y == 2.0);
  CHECK_FALSE(top1[1].valid);
  // Two cells, weights 3 and 1: x = (3 * 1 + 1 * 5) / 4 = 2, y = 1.
  std::vector<float> two(2 * 6, 0.0f);
  two[1 * 6 + 1] = 3, two[1 * 6 + 5] = 1, two[0] = 0.5f;  // a third, weaker cell left out at top-2
  const Pose p = heatmap_keypoints(from_vector(two, {2, 6, 1}), 2);
  CHECK(p[0].x == doctest::Approx(2.0));
  CHECK(p[0].y == doctest::Approx(1.0));
}

TEST_CASE("JHMDB files: MAT joints, both list orders, a static video keeps its pose") {
  TempDir dir("sm_eval_jhmdb");
  write_synthetic_davis(dir / "davis", {.sequences = 1, .frames = 1, .height = 64, .width = 80, .objects = 1});
  const Image frame = read_image(DavisDataset::open(dir / "davis").sequences[0].frame_paths[0]);
  const int32_t frames = 4;
  for (int t = 1; t <= frames; ++t) {
    char name[32];
    std::snprintf(name, sizeof name, "%05d.png", t);
    write_png(dir / (std::string("Rename_Images/run/clip_a/") + name), frame);
  }
  // 15 joints spread over the frame, the same in every frame (1-based pixels in the file).
  std::vector<double> pos;
  for (int t = 0; t < frames; ++t)
    for (int j = 0; j < 15; ++j) pos.push_back(6 + 4.5 * j), pos.push_back(8 + 3 * (j % 5) * 4);
  fs::create_directories(dir / "joint_positions/run/clip_a");
  write_mat(dir / "joint_positions/run/clip_a/joint_positions.mat", jhmdb_variables(pos, frames), true);

  const std::vector<Pose> joints = read_jhmdb_joints(dir / "joint_positions/run/clip_a/joint_positions.mat");
  REQUIRE(joints.size() == 4);
  CHECK(joints[2][1].x == 9.5);  // 6 + 4.5 - 1
  CHECK(joints[2][1].y == 19.0);  // 8 + 12 - 1

  std::ofstream(dir / "cropmae_list.txt")
      << "joint_positions/run/clip_a/joint_positions.mat Rename_Images/run/clip_a\n";
  std::ofstream(dir / "videowalk_list.txt")
      << dir / "Rename_Images/run/clip_a" << " " << dir / "joint_positions/run/clip_a/joint_positions.mat\n";
  PixelFeatures pixels(4);
  for (const std::string list : {"cropmae_list.txt", "videowalk_list.txt"}) {
    CAPTURE(list);
    JhmdbOptions options{.root = dir.path.string(), .list = dir / list, .progress = false};
    options.frames = {.size = 64, .square = false};
    const PckMeter meter = propagate_jhmdb(pixels, options);
    // Every frame is the first: each joint comes back where the first frame's heatmap puts
    // it, within a fraction of a 4-pixel cell, far inside 0.1 of the pose's box.
    CHECK(meter.pck(0.1) == 100.0);
    CHECK(meter.pck(0.2) == 100.0);
    CHECK(meter.num_joints() == 15);
  }
}

// ---------------------------------------------------------------- progress

TEST_CASE("progress: redrawn in place on a terminal, plain periodic lines elsewhere") {
  CHECK(format_duration(65) == "1m05s");
  CHECK(format_duration(3 * 3600 + 7 * 60 + 59) == "3h07m");
  CHECK(format_duration(-1) == "0m00s");
  std::ostringstream text;
  CHECK_FALSE(is_terminal(text));  // only std::cout or std::cerr on a terminal

  // A terminal: every advance redraws the one line; an item's summary goes above it.
  std::ostringstream screen;
  WorkProgress shown("propagate", 10, "frames", &screen, /*terminal=*/true);
  shown.start_item("sequence", 0, 2, "blackswan");
  shown.advance(4);
  CHECK(shown.line().starts_with("[propagate] 4/10 frames  "));
  CHECK(shown.line().ends_with("  sequence 1/2 blackswan"));
  CHECK(shown.line().find(" frames/s  ETA ") != std::string::npos);
  shown.finish_item("4 frames");
  shown.advance(6);
  shown.finish();
  const std::string drawn = screen.str();
  CHECK(drawn.starts_with("\r[propagate] 4/10 frames"));
  CHECK(drawn.find("\033[K\r\033[K[propagate] sequence 1/2 blackswan: 4 frames, ") != std::string::npos);
  CHECK(drawn.find("\r[propagate] 10/10 frames") != std::string::npos);
  CHECK(drawn.ends_with("\033[K\n"));

  // Not a terminal: lines at most every interval (here: every advance), no control characters.
  std::ostringstream log;
  WorkProgress plain("score", 3, "frames", &log, /*terminal=*/false, /*interval_seconds=*/0);
  plain.start_item("sequence 1/1 dog");
  plain.advance();
  plain.advance(2);
  plain.finish_item("3 frames scored");
  plain.finish();
  std::istringstream lines(log.str());
  std::vector<std::string> printed;
  for (std::string line; std::getline(lines, line);) printed.push_back(line);
  REQUIRE(printed.size() == 3);
  CHECK(printed[0].starts_with("[score] 1/3 frames"));
  CHECK(printed[1].starts_with("[score] 3/3 frames"));
  CHECK(printed[2].starts_with("[score] sequence 1/1 dog: 3 frames scored, "));
  CHECK(log.str().find('\r') == std::string::npos);

  // A long interval: no line until the item ends; silent without a stream.
  std::ostringstream quiet_log;
  WorkProgress sparse("score", 3, "frames", &quiet_log, false, 3600);
  sparse.advance(3);
  CHECK(quiet_log.str().empty());
  WorkProgress silent("score", 3, "frames", nullptr, true);
  silent.advance(3);
  silent.finish_item("done");
  silent.finish();
  CHECK(silent.done() == 3);
}
