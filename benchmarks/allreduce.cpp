// The all-reduce of one training step's gradients: milliseconds per all-reduce of a flat
// float32 buffer the size of each preset's parameters, over the ranks it is started with, and
// the bus bandwidth (NCCL's convention: 2 (N - 1) / N x bytes / time). A step of data-parallel
// training spends this long in communication; overlapping it with the backward pass can at
// most hide it. Run under the launcher, e.g.
//   mpirun -np 2 build/benchmarks/bench_allreduce [--presets tiny,small,vits16] [--repeats 10] [--device cuda]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "models/siammae/model.h"
#include "tensor/backend.h"

using namespace sm;

int main(int argc, char** argv) {
  std::string presets = "tiny,small,vits16";
  int repeats = 10;
  Device device = Device::CPU;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--presets") presets = value;
    else if (flag == "--repeats") repeats = std::stoi(value);
    else if (flag == "--device") device = value == "cuda" ? Device::CUDA : Device::CPU;
    else {
      std::fprintf(stderr, "usage: bench_allreduce [--presets a,b] [--repeats N] [--device cpu|cuda]\n");
      return 2;
    }
  }
  try {
    std::unique_ptr<Communicator> comm = connect_ranks({.device = device});
    const double n = comm->size();
    if (comm->is_main())
      std::printf("all-reduce of the gradients over %d rank(s) (%s), median of %d after 2 warm-ups\n\n"
                  "| preset | parameters | MB per step | ms | bus GB/s |\n|---|---|---|---|---|\n",
                  comm->size(), comm->name().c_str(), repeats);
    std::istringstream names(presets);
    for (std::string preset; std::getline(names, preset, ',');) {
      const int64_t count = SiamMAE(siammae_preset(preset)).parameter_count();
      const Tensor buffer = ones({count}, {.device = device});  // (count)
      std::vector<double> seconds;
      for (int r = 0; r < repeats + 2; ++r) {
        backend_for(device).synchronize();
        const auto start = std::chrono::steady_clock::now();
        comm->all_reduce_sum(buffer, "the benchmark's all-reduce");
        backend_for(device).synchronize();
        if (r >= 2) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
      std::sort(seconds.begin(), seconds.end());
      const double median = seconds[seconds.size() / 2], bytes = 4.0 * static_cast<double>(count);
      if (comm->is_main())
        std::printf("| %s | %lld | %.1f | %.2f | %.2f |\n", preset.c_str(), static_cast<long long>(count), bytes / 1e6,
                    1e3 * median, n > 1 ? 2 * (n - 1) / n * bytes / median / 1e9 : 0.0);
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_allreduce: %s\n", e.what());
    return 1;
  }
}
