#include "dist/gradients.h"

#include <cstring>

#include "autograd/autograd.h"

namespace sm {

GradientAverager::GradientAverager(Communicator& communicator, std::vector<Tensor> params)
    : communicator_(communicator), params_(std::move(params)) {
  for (const Tensor& p : params_) {
    check(p.dtype() == DType::F32, "dist", "gradients are averaged in float32; a parameter is ", dtype_name(p.dtype()));
    elements_ += p.numel();
  }
}

std::vector<double> GradientAverager::average(const std::vector<double>& scalars, const std::string& what) {
  if (communicator_.size() == 1) return scalars;
  NoGradGuard no_grad;
  const int64_t count = static_cast<int64_t>(scalars.size());
  const Device device = params_.empty() ? Device::CPU : params_.front().device();
  if (!flat_.defined() || flat_.numel() != elements_ + count) flat_ = empty({elements_ + count}, {.device = device});

  // Gather: every gradient, then the scalars.
  int64_t offset = 0;
  for (const Tensor& p : params_) {
    const Tensor slot = flat_.narrow(0, offset, p.numel());  // (numel)
    if (p.grad().defined()) copy_(slot, p.grad().reshape({p.numel()}));
    else fill_(slot, 0);
    offset += p.numel();
  }
  const std::vector<float> values(scalars.begin(), scalars.end());
  copy_(flat_.narrow(0, elements_, count), from_vector(values).to(device));

  communicator_.all_reduce_sum(flat_, what);
  copy_(flat_, flat_ * (1.0 / communicator_.size()));  // the sum -> the mean (exact for 2, 4, 8 ranks)

  // Scatter: each gradient becomes its slot of the buffer.
  offset = 0;
  for (const Tensor& p : params_) {
    if (p.grad().defined()) p.set_grad(flat_.narrow(0, offset, p.numel()).view(p.shape()));
    offset += p.numel();
  }
  const std::vector<float> means = flat_.narrow(0, elements_, count).to_vector<float>();
  return {means.begin(), means.end()};
}

namespace {

// FNV-1a over 64-bit words, each word mixed first (splitmix64's finalizer) so that every bit
// of the input moves many bits of the result.
class Fingerprint {
 public:
  void add(uint64_t word) {
    word ^= word >> 30, word *= 0xbf58476d1ce4e5b9ull, word ^= word >> 27, word *= 0x94d049bb133111ebull,
        word ^= word >> 31;
    hash_ = (hash_ ^ word) * 0x100000001b3ull;
  }
  // The length, then the bytes in words (the last one padded with zeros).
  void add(const void* data, size_t n) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    add(n);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t word;
      std::memcpy(&word, bytes + i, 8);
      add(word);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, bytes + i, n - i);
    add(tail);
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ull;
};

}  // namespace

uint64_t fingerprint(const std::vector<Tensor>& tensors) {
  Fingerprint f;
  for (const Tensor& t : tensors) {
    const Tensor host = t.to(Device::CPU).contiguous();
    f.add(host.raw_data(), static_cast<size_t>(host.numel()) * dtype_size(host.dtype()));
  }
  return f.value();
}

uint64_t fingerprint(const std::vector<std::string>& texts) {
  Fingerprint f;
  for (const std::string& text : texts) f.add(text.data(), text.size());
  return f.value();
}

}  // namespace sm
