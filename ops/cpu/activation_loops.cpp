// Vectorised activation loops (OpenMP threads × SIMD, exp/log from libmvec via ops/simd_math.h), used where
// oneDNN 2.6 has no primitive — Noisy Softplus needs softplus with a scale, and 2.6's soft_relu takes no
// alpha — and benchmarked against oneDNN where it has one.
#include "core/parallel.h"
#include "ops/activation.h"
#include "ops/cpu/kernels.h"
#include "ops/simd_math.h"

namespace sf::onednn {
namespace {

using simd::logistic;
using simd::softplus;

constexpr int64_t kGrain = 65536;  // elements below which one thread is faster

// y[i] = f(x[i]) over threads and SIMD lanes. The pointers and f are copied into locals first: read through
// the closure, a float parameter of f (kσ) could alias the stores to y, and GCC would fall back to its
// scalar loop (measured: Noisy Softplus 8× slower).
template <class F>
void map(int64_t n, const float* x, float* y, F f) {
  parallel_for(n, kGrain, [=](int64_t lo, int64_t hi, int) {
    const float* __restrict xs = x;
    float* __restrict ys = y;
    const F fn = f;
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) ys[i] = fn(xs[i]);
  });
}

// dx[i] = f'(x[i]) · dy[i], as map().
template <class DF>
void map_grad(int64_t n, const float* x, const float* dy, float* dx, DF df) {
  parallel_for(n, kGrain, [=](int64_t lo, int64_t hi, int) {
    const float* __restrict xs = x;
    const float* __restrict dys = dy;
    float* __restrict dxs = dx;
    const DF fn = df;
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) dxs[i] = fn(xs[i], dys[i]);
  });
}

class ActivationLoops final : public ActivationOp {
 public:
  using ActivationOp::ActivationOp;
  const char* impl() const override { return "openmp"; }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->data();
    float* y = out.data();
    const int64_t n = out.numel();
    const float p = act_.scale, pks = act_.scale * act_.ks, inv = 1.0f / act_.ks;
    switch (act_.kind) {
      case ActKind::relu:
        return map(n, x, y, [p](float v) { return p * (v < 0.0f ? 0.0f : v); });
      case ActKind::relu6:  // comparisons that let a NaN through
        return map(n, x, y, [p](float v) { return p * (v < 0.0f ? 0.0f : v > 6.0f ? 6.0f : v); });
      case ActKind::softplus:
        return map(n, x, y, [p](float v) { return p * softplus(v); });
      case ActKind::noisy_softplus:
        return map(n, x, y, [pks, inv](float v) { return pks * softplus(v * inv); });
    }
  }

  // dx = f'(x) · dy
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float* x = in[0]->data();
    const int64_t n = gout.numel();
    const float p = act_.scale, inv = 1.0f / act_.ks;
    switch (act_.kind) {
      case ActKind::relu:  // 0·dy rather than 0 keeps a NaN gradient visible
        return map_grad(n, x, gout.data(), gin[0]->data(),
                        [p](float v, float d) { return v > 0.0f ? p * d : 0.0f * d; });
      case ActKind::relu6:
        return map_grad(n, x, gout.data(), gin[0]->data(),
                        [p](float v, float d) { return v > 0.0f && v < 6.0f ? p * d : 0.0f * d; });
      case ActKind::softplus:
        return map_grad(n, x, gout.data(), gin[0]->data(), [p](float v, float d) { return p * logistic(v) * d; });
      case ActKind::noisy_softplus:
        return map_grad(n, x, gout.data(), gin[0]->data(),
                        [p, inv](float v, float d) { return p * logistic(v * inv) * d; });
    }
  }
};

}  // namespace

OpPtr make_activation_loops(const std::string& type, const Attrs& a) {
  return std::make_unique<ActivationLoops>(type, a);
}

}  // namespace sf::onednn
