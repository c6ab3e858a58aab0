// One SiamMAE training step (forward, backward, AdamW) at a preset, on random frames:
// milliseconds per step, pairs per second, the model's FLOP rate and the process's peak
// memory, the best of several steps after a warm-up.
//   build/benchmarks/bench_train_step [--config tiny] [--batch 32] [--steps 5] [--threads N] [--formula]
// benchmarks/train_step_torch.py times the same model in PyTorch, for a ratio measured in the
// same run; benchmarks/compare_train_step.sh runs both, interleaved.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "models/siammae/model.h"
#include "nn/optim/optimizer.h"
#include "tensor/backend.h"

using namespace sm;

// The FLOPs of one training step of the siamese encoder + cross-self decoder: matrix products
// and attention only (layer norms, GELU, softmax, the loss and AdamW are not counted), the
// backward counted as twice the forward. Per pair, with T1 = N + 1 tokens of f1, T2 = n + 1
// of f2 (n visible patches), C / Cd the encoder / decoder widths, L / Ld their depths, P = 3 p^2:
static const char* kFormula =
    "step FLOPs = 3 x batch x forward; forward = patch embedding (N + n) 2 P C   [f1's patches, f2's visible ones]\n"
    "  + encoder, for T in (T1, T2): L (24 T C^2 + 4 T^2 C)        [qkv 6, proj 2, mlp 16 C^2; q k^T and a v]\n"
    "  + decoder_embed 2 (T1 + T2) C Cd\n"
    "  + decoder: Ld (28 Tq Cd^2 + 4 Tm Cd^2 + 4 Tq Cd (Tm + Tq))  [queries Tq = N + 1, every patch and CLS; memory Tm = T1]\n"
    "  + decoder_pred 2 Tq Cd P";

static double forward_flops(const SiamMAEConfig& c) {
  const double n = static_cast<double>(c.num_patches()), p = static_cast<double>(c.patch_dim());
  const double t1 = n + 1, t2 = std::floor(n * (1 - c.mask_ratio)) + 1;
  const double e = static_cast<double>(c.encoder_dim), d = static_cast<double>(c.decoder_dim);
  const double l = static_cast<double>(c.encoder_depth), ld = static_cast<double>(c.decoder_depth);
  const double tq = n + 1, tm = t1;  // decoder queries (every patch + CLS) and memory (f1's tokens)
  double flops = (n + t2 - 1) * 2 * p * e;
  for (double t : {t1, t2}) flops += l * (24 * t * e * e + 4 * t * t * e);
  flops += 2 * (t1 + t2) * e * d;
  flops += ld * (28 * tq * d * d + 4 * tm * d * d + 4 * tq * d * (tm + tq));
  flops += 2 * tq * d * p;
  return flops;
}

static double peak_memory_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

int main(int argc, char** argv) {
  std::string config_name = "tiny";
  int64_t batch = 32, steps = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--formula") {
      std::printf("%s\n", kFormula);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", flag.c_str());
      return 2;
    }
    const std::string value = argv[++i];
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
  const double gflops = 3 * static_cast<double>(batch) * forward_flops(config) / (total * 1e-3) / 1e9;
  std::printf(
      "%s batch %ld, %d threads: forward %.1f ms, backward %.1f ms, AdamW %.1f ms, step %.1f ms = %.1f pairs/s, "
      "%.1f model GFLOP/s, peak memory %.0f MB\n",
      config_name.c_str(), static_cast<long>(batch), cpu_threads(), best[0], best[1], best[2], total,
      1e3 * static_cast<double>(batch) / total, gflops, peak_memory_mb());
  return 0;
}
