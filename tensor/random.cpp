#include "tensor/random.h"

#include <cmath>
#include <numbers>
#include <vector>

namespace sm {

// splitmix64's output function (Steele, Lea & Flood): a bijection that scrambles every bit.
static uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// splitmix64 as a stream: advances x, returns the next value.
static uint64_t splitmix64(uint64_t& x) {
  const uint64_t z = mix(x);
  x += 0x9E3779B97F4A7C15ull;
  return z;
}

uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t index) { return mix(mix(mix(seed) ^ stream) ^ index); }

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void Generator::manual_seed(uint64_t seed) {
  for (uint64_t& word : s_) word = splitmix64(seed);
  has_spare_ = false;
  spare_ = 0;
}

void Generator::set_state(const State& state) {
  s_ = state.s;
  has_spare_ = state.has_spare_normal;
  spare_ = state.spare_normal;
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  spare_ = radius * std::sin(2 * std::numbers::pi * u2);
  has_spare_ = true;
  return radius * std::cos(2 * std::numbers::pi * u2);
}

int64_t Generator::randint(int64_t low, int64_t high) {
  check(high > low, "randint", "empty range [", low, ", ", high, ")");
  const uint64_t range = static_cast<uint64_t>(high - low);
  // Rejection sampling removes the modulo bias.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t draw;
  do draw = next_u64();
  while (draw >= limit);
  return low + static_cast<int64_t>(draw % range);
}

Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

template <typename Draw> static Tensor fill_random(const Shape& shape, TensorOptions options, Draw draw) {
  std::vector<double> values(numel_of(shape));
  for (double& v : values) v = draw();
  return from_vector(values, shape, options);
}

Tensor rand(const Shape& shape, TensorOptions options, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return fill_random(shape, options, [&] { return g.uniform(); });
}

Tensor randn(const Shape& shape, TensorOptions options, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return fill_random(shape, options, [&] { return g.normal(); });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return fill_random(shape, options, [&] { return static_cast<double>(g.randint(low, high)); });
}

Tensor randperm(int64_t n, Generator* gen, Device device) {
  check(n >= 0, "randperm", "n must be >= 0, got ", n);
  Generator& g = gen ? *gen : default_generator();
  std::vector<int64_t> perm(n);
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[g.randint(0, i + 1)]);
  return from_vector(perm, {n}, {.dtype = DType::I64, .device = device});
}

}  // namespace sm
