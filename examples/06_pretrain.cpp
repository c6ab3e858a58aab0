// Example 6: pretraining SiamMAE on real video clips, with every piece of the loop in view:
// the videos, the loader of augmented frame pairs, the model, AdamW with MAE's learning-rate
// schedule, and a checkpoint. `siammae train` runs this same loop (models/siammae/train.cpp)
// with logging, pictures, resuming and Ctrl-C handling on top.
//   build/examples/06_pretrain [DATA [OUT]]   defaults: data/samples/pretrain runs/06_pretrain
// 60 steps of 16 pairs of the tiny preset: about 20 s on 2 cores. The loss falls from about
// 1.6 (an untrained model) towards 1.0; learning features worth propagating takes longer
// (./run demo trains 600 steps of 32 pairs).
#include <chrono>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "data/loader.h"
#include "examples/loss_curve.h"
#include "models/siammae/checkpoint.h"

using namespace sm;

// The mean of values[begin, end).
static double mean_of(const std::vector<double>& values, size_t begin, size_t end) {
  return std::accumulate(values.begin() + begin, values.begin() + end, 0.0) / static_cast<double>(end - begin);
}

int main(int argc, char** argv) {
  const std::string data = argc > 1 ? argv[1] : "data/samples/pretrain";
  const std::filesystem::path out = argc > 2 ? argv[2] : "runs/06_pretrain";
  const int64_t steps = 60, batch = 16;
  const auto started = std::chrono::steady_clock::now();

  // 1. The videos: each folder of frames under `data` is one clip.
  VideoDatasetOptions listing;
  listing.use_cache = false;  // a few clips list fast; a large dataset keeps the listing in ~/.cache
  VideoDataset videos = VideoDataset::open(data, listing);
  std::cout << videos.videos.size() << " clips in " << data << "\n";

  // 2. The model: the tiny preset (64 px frames, 8 px patches, encoder 192 wide and 6 deep).
  const SiamMAEConfig config = siammae_preset("tiny");
  Generator init(0);
  SiamMAE model(config, &init);
  std::cout << "SiamMAE '" << config.name << "': " << model.parameter_count() << " parameters\n";

  // 3. The loader: batches of pairs (f1, f2) from one clip, f2 4 to 48 frames after f1, both
  //    cropped and flipped alike, resized to 64 px. Worker threads decode ahead of the loop;
  //    batch k depends only on (seed, k), so a run can be repeated exactly.
  PairLoaderOptions pairs;
  pairs.image_size = config.image_size;
  pairs.batch_size = batch;
  pairs.seed = 0;
  PairLoader loader(std::move(videos), pairs);

  // 4. The optimizer as in the paper: AdamW, betas (0.9, 0.95), weight decay 0.05 except on
  //    biases, norms and tokens; lr = blr * batch / 256, a linear warmup, then a half cosine.
  const double lr = 4e-3 * static_cast<double>(batch) / 256.0;
  AdamW optimizer(decay_groups(model, 0.05), {.lr = lr, .beta1 = 0.9, .beta2 = 0.95});

  // 5. The loop: sample the masks (95 % of f2's patches hidden), forward, backward, step.
  Generator mask_gen(1);
  std::vector<double> losses;
  for (int64_t step = 0; step < steps; ++step) {
    const PairBatch pair_batch = loader.next();  // f1, f2: (16, 3, 64, 64), ImageNet-normalized
    optimizer.set_lr(warmup_cosine_lr(step, steps / 10, steps, lr, 0.0));
    const PairMasks masks = model.sample_masks(batch, mask_gen);
    SiamMAEOutput result = model.forward(pair_batch.f1, pair_batch.f2, masks);  // loss ()
    optimizer.zero_grad();
    result.loss.backward();
    optimizer.step();
    losses.push_back(result.loss.item());
    if (step % 10 == 0) std::cout << "step " << step << "  loss " << losses.back() << "\n";
  }
  print_loss_curve(losses);

  // 6. The checkpoint: parameters under MAE's names, the optimizer's state, and the config in
  //    the metadata (models/siammae/checkpoint.h). Written through a temporary file.
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::filesystem::create_directories(out);
  const std::string path = (out / "checkpoint.safetensors").string();
  save_checkpoint(path, model, &optimizer, {{"steps", steps}, {"batch", batch}}, steps, losses.back(), seconds);
  std::cout << "wrote " << path << " after " << static_cast<int>(seconds) << " s\n";

  // Reading it back gives the same model (07_propagate and `siammae propagate` read it so).
  const std::unique_ptr<SiamMAE> loaded = load_model(path);
  NoGradGuard no_grad;
  const PairBatch check_batch = loader.make_batch(0);
  Generator gen_a(7), gen_b(7);
  const double before = model.forward(check_batch.f1, check_batch.f2, model.sample_masks(batch, gen_a)).loss.item();
  const double after = loaded->forward(check_batch.f1, check_batch.f2, loaded->sample_masks(batch, gen_b)).loss.item();
  std::cout << "loss on batch 0: " << before << " (trained model), " << after << " (loaded from the checkpoint)\n";

  const double first = mean_of(losses, 0, 10), last = mean_of(losses, steps - 10, steps);
  std::cout << "mean loss of the first 10 steps " << first << ", of the last 10 " << last << "\n";
  return last < 0.8 * first && before == after ? 0 : 1;
}
