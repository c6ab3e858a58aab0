// Label propagation at DAVIS's 480p (frames resized to 480x848): seconds per frame for the
// encoder's features (tiny: p8, 60x106 grid; small: p16, 30x53) and for the propagation step
// with a full context (first frame + 20 previous), and the process's peak memory.
//   build/benchmarks/bench_propagation [--threads N] [--frames 4] [--preset tiny|small] [--device cpu|cuda]
// With --device cuda the encoder runs on the GPU (the propagation step stays on the CPU).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "eval/propagation.h"
#include "models/siammae/features.h"
#include "tensor/backend.h"

using namespace sm;

static double peak_memory_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

int main(int argc, char** argv) {
  int64_t frames = 4;
  std::vector<std::string> presets = {"tiny", "small"};
  Device device = Device::CPU;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") set_cpu_threads(std::stoi(argv[i + 1]));
    else if (flag == "--frames") frames = std::stoll(argv[i + 1]);
    else if (flag == "--preset") presets = {argv[i + 1]};
    else if (flag == "--device") device = std::string(argv[i + 1]) == "cuda" ? Device::CUDA : Device::CPU;
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  std::printf("%d threads, frames 480x848, DAVIS settings (top-7, queue 20, radius 20)\n", cpu_threads());
  std::printf("%-7s %-9s %12s %14s %10s %14s\n", "preset", "grid", "encoder s", "propagate s", "frames/s",
              "peak memory MB");
  for (const std::string& preset : presets) {
    NoGradGuard no_grad;
    auto features = random_features(siammae_preset(preset), 0, device);
    Generator gen(0);
    Tensor frame = randn({3, 480, 848}, {}, &gen);  // (3, H, W) normalized
    features->extract(frame);  // warm-up
    auto t0 = Clock::now();
    Tensor grid;
    for (int64_t i = 0; i < frames; ++i) grid = features->extract(frame);  // (h, w, C)
    const double encoder = seconds_since(t0) / static_cast<double>(frames);

    LabelPropagator propagator;
    propagator.start(grid, softmax(randn({grid.size(0), grid.size(1), 2}, {}, &gen), -1));
    for (int64_t t = 0; t < 20; ++t) propagator.step(randn(grid.shape(), {}, &gen));  // fill the queue
    t0 = Clock::now();
    for (int64_t i = 0; i < frames; ++i) propagator.step(grid);
    const double propagate = seconds_since(t0) / static_cast<double>(frames);
    const std::string shape = std::to_string(grid.size(0)) + "x" + std::to_string(grid.size(1));
    std::printf("%-7s %-9s %12.2f %14.2f %10.3f %14.0f\n", preset.c_str(), shape.c_str(), encoder, propagate,
                1.0 / (encoder + propagate), peak_memory_mb());
  }
  return 0;
}
