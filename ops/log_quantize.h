// log_quantize (LDR, Miyashita et al. 2016, arXiv 1603.01025): log-domain quantisation with a
// straight-through estimator.
//   q(x) = 0 if x = 0, else sign(x) · 2^Clip(round(log2|x|), FSR − 2^bits, FSR)
// with the paper's Clip(e, min, max) = "zero" for e ≤ min, max − 1 for e ≥ max, e otherwise. A b-bit code
// thus holds zero plus the 2^b − 1 exponents FSR − 2^b + 1 … FSR − 1: magnitudes too small for the range
// become 0, too large ones saturate at 2^(FSR − 1), and the sign is kept (weights carry it separately).
// ±Inf and NaN pass unchanged so divergence stays visible. Backward passes the gradient straight through
// (dq/dx := 1), as the paper trains. Attrs: bits (≥ 1), fsr (an integer exponent). LogQuantizer is the one
// definition of q for the CPU kernel and ops/cuda/log_quantize.cu (core/hd.h).
#pragma once
#include <algorithm>
#include <cmath>

#include "core/hd.h"
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr AttrSpec kLogQuantizeAttrs[] = {int_attr("bits", 4), required(int_attr("fsr", 0))};
inline constexpr OpSchema kLogQuantizeSchema{"log_quantize", kLogQuantizeAttrs};

struct LogQuantizer {
  float lo_exp, hi_exp;
  LogQuantizer(int64_t bits, int64_t fsr)
      : lo_exp(static_cast<float>(fsr) - std::ldexp(1.0f, static_cast<int>(bits))), hi_exp(static_cast<float>(fsr)) {}
  SF_HD float operator()(float x) const {
    if (x == 0.0f || !std::isfinite(x)) return x;
    const float e = std::nearbyint(std::log2(std::fabs(x)));
    if (e <= lo_exp) return std::copysign(0.0f, x);
    return std::copysign(std::exp2(std::min(e, hi_exp - 1.0f)), x);
  }
};

class LogQuantizeOp : public Op {
 public:
  explicit LogQuantizeOp(const Attrs& a);
  const char* type() const override { return "log_quantize"; }
  const char* impl() const override { return "reference"; }
  Shape prepare(std::span<const Shape> inputs) override;
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override;
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor& out, const Tensor& gout,
                std::span<Tensor* const> gin) override;

 protected:
  LogQuantizer q_;
};

}  // namespace sf
