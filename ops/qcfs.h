// qcfs: the quantisation-clip-floor-shift activation (Bu et al. 2022, "Optimal ANN-SNN Conversion for
// High-accuracy and Ultra-low-latency Spiking Neural Networks", ICLR), trained so that the converted SNN is
// accurate after few steps:
//   y = λ · clip(floor(x·L/λ + 1/2) / L, 0, 1)
// with L quantisation levels (attr levels ≥ 1) and a trainable threshold λ (input 1: shape [1], one per layer).
// Backward passes straight through the floor, as the paper's code trains (floor's gradient := 1):
//   ∂y/∂x = [0 ≤ x/λ ≤ 1],   ∂y/∂λ = q(x/λ) − (x/λ)·[0 ≤ x/λ ≤ 1],   q(u) = clip(floor(u·L + 1/2)/L, 0, 1)
// so inside the range λ learns from the quantisation error, and above it λ grows as a clipped ReLU's ceiling
// would (∂y/∂λ = 1). Converted, an IF neuron with threshold θ = λ, reset by subtraction and v(0) = θ/2 fires on
// average what y is (the paper's Theorem 2: the 1/2 shift is the half-threshold start).
// The math is one set of SF_HD functions, shared by every kernel (the CPU loops here, ops/cuda/qcfs.cu).
#pragma once
#include <cmath>

#include "core/hd.h"
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr AttrSpec kQcfsAttrs[] = {int_attr("levels", 8)};
inline constexpr OpSchema kQcfsSchema{"qcfs", kQcfsAttrs};

struct Qcfs {
  float levels;  // L
  // q(u) = clip(floor(u·L + 1/2)/L, 0, 1).
  SF_HD float quantise(float u) const {
    return std::fmin(std::fmax(std::floor(u * levels + 0.5f) / levels, 0.0f), 1.0f);
  }
  SF_HD float forward(float x, float lambda) const { return lambda * quantise(x / lambda); }
  // ∂y/∂x and ∂y/∂λ at x.
  static SF_HD bool passes(float u) { return u >= 0.0f && u <= 1.0f; }
  SF_HD float dlambda(float x, float lambda) const {
    const float u = x / lambda;
    return quantise(u) - (passes(u) ? u : 0.0f);
  }
};

class QcfsOp : public Op {
 public:
  explicit QcfsOp(const Attrs& a);
  const char* type() const override { return "qcfs"; }
  const char* impl() const override { return "reference"; }
  Shape prepare(std::span<const Shape> inputs) override;
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override;
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor& out, const Tensor& gout,
                std::span<Tensor* const> gin) override;

 protected:
  Qcfs q_;

 private:
  std::vector<double> partial_;  // ∂λ per fixed block, summed in block order: thread-count independent
};

}  // namespace sf
