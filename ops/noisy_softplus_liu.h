// noisy_softplus_liu: Liu's Noisy Softplus with σ computed per neuron on every forward pass (Liu 2017,
// thesis ch. 4):
//   σ² = Σ_i ½ · w_i² · |a_i|   over the inputs a_i that feed the neuron through weights w_i
//   f  = p · kσ · log(1 + exp(x / (kσ))),   df/dx = p · logistic(x / (kσ))   (σ held constant in backward)
// with the parametric-activation scale p = S·τsyn (1.085 for S = 217, τsyn = 5 ms) and k = 0.31.
// Inputs: x (the source layer's output), a (the source layer's input) and, for conv2d / dense sources, w
// (its weights). σ² is the source layer run again on |a| with weights ½w² — through whatever conv / dense
// kernel the registry gives — and for an average pool of k×k (weights 1/k²) it is ½/k² · avgpool(|a|).
// Attrs: k (0.31), scale (1.085), source (the source layer's op type: conv2d, dense or avgpool2d) plus the
// source's own geometry (stride, pad, kernel — absent: the source op's defaults), passed to its kernel.
#pragma once
#include <cmath>
#include <string>

#include "core/hd.h"
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr AttrSpec kNoisySoftplusLiuAttrs[] = {
    float_attr("k", 0.31),
    float_attr("scale", 1.085),
    string_attr("source", "conv2d", "conv2d|dense|avgpool2d"),
    derived(int_attr("stride", 0)),
    derived(int_attr("pad", 0)),
    derived(int_attr("kernel", 0)),
};
inline constexpr OpSchema kNoisySoftplusLiuSchema{"noisy_softplus_liu", kNoisySoftplusLiuAttrs};

enum class SigmaSource { conv2d, dense, avgpool2d };

// The element-wise math, one SF_HD form for the reference kernel and ops/cuda/noisy_softplus_liu.cu (the CPU
// kernel vectorises its own form, ops/simd_math.h).
struct NspLiu {
  float k, p;  // k and the parametric-activation scale
  // kσ from σ², floored at 1e−12 (σ = 0 when every input is 0: f → p·max(x, 0)). Ternaries, not std::max,
  // whose reference results keep GCC from vectorising the loops.
  SF_HD float ks(float sigma2) const {
    const float v = k * std::sqrt(sigma2 > 0.0f ? sigma2 : 0.0f);
    return v > 1e-12f ? v : 1e-12f;
  }
  // f = p·(max(x, 0) + kσ·log1p(e^−|x|/kσ)): p·kσ·softplus(x/kσ) without overflow.
  SF_HD float value(float x, float sigma2) const {
    const float s = ks(sigma2);
    return p * ((x > 0.0f ? x : 0.0f) + s * std::log1p(std::exp(-std::fabs(x) / s)));
  }
  SF_HD float slope(float x, float sigma2) const { return p / (1.0f + std::exp(-x / ks(sigma2))); }
};

class NoisySoftplusLiuOp : public Op {
 public:
  // inner_impl: the kernel for the σ² pass ("reference" makes this op the test oracle).
  NoisySoftplusLiuOp(const Attrs& a, std::string inner_impl, Device device);
  const char* type() const override { return "noisy_softplus_liu"; }
  const char* impl() const override { return inner_impl_.empty() ? "openmp" : "reference"; }
  Shape prepare(std::span<const Shape> inputs) override;
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override;
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor& out, const Tensor& gout,
                std::span<Tensor* const> gin) override;

  const Tensor& sigma_squared() const { return sigma2_; }  // of the last forward, per output element

 protected:
  // The element-wise steps, on the op's device: |a| and ½w² (w null for a pool source), σ² scaled for a pool
  // (s2 ← s2·factor), f from x and σ², and dx = f'(x)·dy.
  virtual void abs_and_half_square(const ExecContext& ctx, const float* a, float* abs_a, int64_t na, const float* w,
                                   float* half_w2, int64_t nw);
  virtual void scale(const ExecContext& ctx, float* s2, int64_t n, float factor);
  virtual void activate(const ExecContext& ctx, const float* x, const float* s2, float* y, int64_t n);
  virtual void gradient(const ExecContext& ctx, const float* x, const float* s2, const float* dy, float* dx, int64_t n);
  NspLiu math() const { return {k_, scale_}; }

 private:
  Attrs source_attrs_;  // the source layer's attributes (its geometry), for its kernel in the σ² pass
  std::string inner_impl_;
  Device device_;  // where the op was registered: the σ² pass runs the source layer's kernel there too
  float k_, scale_;
  SigmaSource source_;
  float pool_factor_ = 0.5f;  // ½/k² for a k×k average pool
  OpPtr inner_;
  Tensor abs_in_, half_w2_, sigma2_;
};

const char* sigma_source_type(SigmaSource s);             // "conv2d", "dense", "avgpool2d"
SigmaSource parse_sigma_source(const std::string& type);  // the inverse; an internal error for another type

}  // namespace sf
