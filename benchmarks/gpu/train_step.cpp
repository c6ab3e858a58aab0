// One SiamMAE training step (forward, backward, AdamW) on a device, timed the way a GPU needs:
// after warm-up steps, `--steps` steps back to back, then one wait for the GPU; and the caching
// allocator's peak memory over those steps. float32 with TF32 off, or bfloat16 autocast.
// Prints one JSON line, for benchmarks/gpu/check.sh to set beside PyTorch's (torch_step.py).
//   build/benchmarks/gpu/bench_gpu_step --config vits16 --batch 64 --precision fp32|bf16 [--steps 20]
//       [--warmup 3] [--device cuda|cpu]
//   build/benchmarks/gpu/bench_gpu_step --config vits16 --print-config   (the model, as JSON)
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "autograd/autocast.h"
#include "models/siammae/model.h"
#include "nn/optim/optimizer.h"
#include "tensor/backend.h"

using namespace sm;

int main(int argc, char** argv) {
  std::string config_name = "vits16", precision = "fp32", device_name_text = "cuda";
  int64_t batch = 64, steps = 20, warmup = 3;
  bool print_config = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string flag = argv[i];
      if (flag == "--print-config") {
        print_config = true;
        continue;
      }
      check(i + 1 < argc, "bench_gpu_step", flag, " needs a value");
      const std::string value = argv[++i];
      if (flag == "--config") config_name = value;
      else if (flag == "--batch") batch = std::stoll(value);
      else if (flag == "--steps") steps = std::stoll(value);
      else if (flag == "--warmup") warmup = std::stoll(value);
      else if (flag == "--precision") precision = value;
      else if (flag == "--device") device_name_text = value;
      else fail("bench_gpu_step", "unknown flag ", flag);
    }
    check(precision == "fp32" || precision == "bf16", "bench_gpu_step", "--precision must be fp32 or bf16");
    check(steps > 0 && warmup >= 0 && batch > 0, "bench_gpu_step", "--steps and --batch must be positive");
    const SiamMAEConfig config = siammae_preset(config_name);
    if (print_config) {
      std::cout << config.to_json().dump() << "\n";
      return 0;
    }
    const Device device = device_name_text == "cuda" ? Device::CUDA : Device::CPU;
    set_allow_tf32(false);
    Generator gen(0);
    SiamMAE model(config, &gen);
    model.to(device);
    AdamW optimizer(decay_groups(model, 0.05), {.lr = 1e-4, .beta1 = 0.9, .beta2 = 0.95});
    const int64_t s = config.image_size;
    const Tensor f1 = randn({batch, 3, s, s}, {}, &gen).to(device), f2 = randn({batch, 3, s, s}, {}, &gen).to(device);
    auto step = [&] {
      SiamMAEOutput out;
      {
        AutocastGuard autocast(precision == "bf16");
        out = model.forward(f1, f2, model.sample_masks(batch, gen));
      }
      optimizer.zero_grad();
      out.loss.backward();
      optimizer.step();
      return out.loss;
    };
    for (int64_t i = 0; i < warmup; ++i) step();
    backend_for(device).synchronize();
    reset_peak_memory(device);
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    Tensor loss;
    for (int64_t i = 0; i < steps; ++i) loss = step();
    const double last_loss = loss.item();  // waits for the GPU
    backend_for(device).synchronize();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const MemoryStats memory = memory_stats(device);
    std::printf("{\"impl\": \"ours\", \"config\": \"%s\", \"batch\": %ld, \"precision\": \"%s\", \"device\": \"%s\", "
                "\"ms_per_step\": %.2f, \"pairs_per_s\": %.1f, \"peak_tensor_mb\": %.0f, \"peak_reserved_mb\": %.0f, "
                "\"loss\": %.4f}\n",
                config_name.c_str(), static_cast<long>(batch), precision.c_str(), device_name(device),
                1e3 * seconds / static_cast<double>(steps), static_cast<double>(batch * steps) / seconds,
                static_cast<double>(memory.peak_allocated) / 1e6, static_cast<double>(memory.peak_reserved) / 1e6,
                last_loss);
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
