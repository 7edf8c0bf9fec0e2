// Vectorisable exp/log helpers for activation loops. exp/log vectorise through glibc's libmvec: math.h only
// declares its SIMD variants under -ffast-math, which would also let the compiler assume no NaN and hide a
// diverging run, so the two declarations are repeated here and callers keep IEEE semantics. Every
// expression propagates NaN.
#pragma once

extern "C" {
__attribute__((__simd__("notinbranch"))) float expf(float) noexcept;
__attribute__((__simd__("notinbranch"))) float logf(float) noexcept;
}

namespace sf::simd {

// exp of an argument clamped at −87, so results never go subnormal: subnormal operands make libmvec (and
// the FPU) 50× slower — Noisy Softplus's x/(kσ) with kσ = 0.17 reaches −87 whenever x < −15. e^−87 =
// 1.6e−38 is within float resolution of 0 in every expression below.
inline float exp_clamped(float a) { return expf(a < -87.0f ? -87.0f : a); }

// softplus(z) = max(z, 0) + log(1 + e^−|z|); log(1 + e) instead of log1p(e) so it vectorises: the absolute
// error for tiny e is below float resolution of the result.
inline float softplus(float z) { return (z < 0.0f ? 0.0f : z) + logf(1.0f + exp_clamped(-__builtin_fabsf(z))); }
inline float logistic(float z) { return 1.0f / (1.0f + exp_clamped(-z)); }

}  // namespace sf::simd
