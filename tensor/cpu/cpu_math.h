// Elementary functions for the CPU kernels that the compiler can vectorize.
//
// std::exp on float is a library call GCC will not vectorize without -ffast-math, which we
// never use (it changes results elsewhere). exp_float below is plain branch-free arithmetic,
// so a loop over it becomes AVX code; softmax over long rows spends most of its time here.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace sm::cpu {

// e^x for float, within about 2 ulp of std::exp; +inf above 88.72, 0 below -103.97, NaN stays NaN.
// Cody-Waite reduction x = n ln2 + r with |r| <= ln2/2, Cephes' degree-6 polynomial for e^r,
// then 2^n applied in two halves so that neither half leaves the normal float range.
inline float exp_float(float x) {
  const float clamped = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);  // NaN falls through
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const float n = (clamped * 1.44269504088896341f + shifter) - shifter;
  const float r = clamped - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e_r = p * r * r + r + 1.0f;
  const int32_t k = static_cast<int32_t>(n), half = k / 2;
  const float scale_a = std::bit_cast<float>((half + 127) << 23);
  const float scale_b = std::bit_cast<float>((k - half + 127) << 23);
  const float result = e_r * scale_a * scale_b;
  return x != x ? x : result;
}

// The standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2 for float, branch-free so a loop over
// it vectorizes (std::erf does not), and GELU's derivative, which also needs e^(-x^2 / 2).
// For z >= 0, erfc(z) = t e^(-z^2) Q(t) with t = 1 / (1 + z/2) and Q a degree-9 polynomial fit
// to erfc (Chebyshev nodes, t in [0.15, 1]): fractional error below 5e-8 in exact arithmetic,
// 4e-6 in float up to z = 9, where e^(-z^2)'s own rounding dominates. (Numerical Recipes' erfcc
// writes the factor as e^P(t), a second exponential.) erfc(-z) = 2 - erfc(z). Phi is what GELU
// needs: x Phi(x) keeps its relative accuracy where 1 + erf(x / sqrt 2) would cancel (x << 0).
//
// Phi(x) from z = -x / sqrt 2 and e^(-z^2) = e^(-x^2/2), which GELU's derivative shares.
inline float normal_cdf_from(float z, float gaussian) {
  const float t = 1.0f / (1.0f + 0.5f * std::fabs(z));
  float q = 0.014106612f;
  q = q * t - 0.13180651f;
  q = q * t + 0.44572112f;
  q = q * t - 0.68783933f;
  q = q * t + 0.43221501f;
  q = q * t - 0.10211627f;
  q = q * t + 0.22616169f;
  q = q * t + 0.23864996f;
  q = q * t + 0.28284183f;
  q = q * t + 0.28206590f;
  const float e = t * gaussian * q;  // erfc(|z|)
  return 0.5f * (z >= 0.0f ? e : 2.0f - e);
}
inline float normal_cdf_float(float x) {
  const float z = x * -0.70710678118654752f;
  return normal_cdf_from(z, exp_float(-z * z));
}
// GELU's derivative Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi): one exponential for both.
inline float gelu_grad_float(float x) {
  const float z = x * -0.70710678118654752f;
  const float gaussian = exp_float(-z * z);  // e^(-x^2/2)
  return normal_cdf_from(z, gaussian) + x * gaussian * 0.39894228040143268f;
}

// exp for the kernels' element types: the vectorizable float version, std::exp for double
// (float64 runs are the reference for gradient checks and keep the library's exp).
template <typename T> inline T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return exp_float(x);
  } else {
    return std::exp(x);
  }
}

}  // namespace sm::cpu
