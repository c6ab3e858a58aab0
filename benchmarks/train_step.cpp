// One SiamMAE training step (forward, backward, AdamW) at a preset, on random frames:
// milliseconds per step and pairs per second, the best of several steps after a warm-up.
//   build/benchmarks/bench_train_step [--config tiny] [--batch 32] [--steps 5] [--threads N]
// benchmarks/train_step_torch.py times the same model in PyTorch, for a ratio measured in the
// same run (benchmarks/compare_train_step.sh runs both).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "models/siammae/model.h"
#include "nn/optim/optimizer.h"
#include "tensor/backend.h"

using namespace sm;

int main(int argc, char** argv) {
  std::string config_name = "tiny";
  int64_t batch = 32, steps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--config") config_name = value;
    else if (flag == "--batch") batch = std::stoll(value);
    else if (flag == "--steps") steps = std::stoll(value);
    else if (flag == "--threads") set_cpu_threads(std::stoi(value));
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  const SiamMAEConfig config = siammae_preset(config_name);
  Generator gen(0);
  SiamMAE model(config, &gen);
  AdamW optimizer(decay_groups(model, 0.05), {.lr = 1e-4, .beta1 = 0.9, .beta2 = 0.95});
  const int64_t s = config.image_size;
  Tensor f1 = randn({batch, 3, s, s}, {}, &gen), f2 = randn({batch, 3, s, s}, {}, &gen);  // (B, 3, S, S)

  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count() * 1e3; };
  double best[3] = {1e30, 1e30, 1e30};  // forward, backward, optimizer (ms)
  for (int64_t step = 0; step <= steps; ++step) {  // step 0 warms up
    auto t0 = Clock::now();
    SiamMAEOutput out = model.forward(f1, f2, model.sample_masks(batch, gen));
    const double forward = since(t0);
    t0 = Clock::now();
    optimizer.zero_grad();
    out.loss.backward();
    const double backward = since(t0);
    t0 = Clock::now();
    optimizer.step();
    const double update = since(t0);
    if (step == 0) continue;
    best[0] = std::min(best[0], forward), best[1] = std::min(best[1], backward), best[2] = std::min(best[2], update);
  }
  const double total = best[0] + best[1] + best[2];
  std::printf("%s batch %ld, %d threads: forward %.1f ms, backward %.1f ms, AdamW %.1f ms, step %.1f ms = %.1f pairs/s\n",
              config_name.c_str(), static_cast<long>(batch), cpu_threads(), best[0], best[1], best[2], total,
              1e3 * static_cast<double>(batch) / total);
  return 0;
}
