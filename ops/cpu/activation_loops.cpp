// Vectorised activation loops (OpenMP threads × SIMD), used where oneDNN 2.6 has no primitive — Noisy
// Softplus needs softplus with a scale, and 2.6's soft_relu takes no alpha — and benchmarked against oneDNN
// where it has one. exp/log vectorise through glibc's libmvec: math.h only declares its SIMD variants under
// -ffast-math, which would also let the compiler assume no NaN and hide a diverging run, so the two
// declarations are repeated here and the file keeps IEEE semantics. Every expression propagates NaN.
#include "ops/activation.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/parallel.h"

extern "C" {
__attribute__((__simd__("notinbranch"))) float expf(float) noexcept;
__attribute__((__simd__("notinbranch"))) float logf(float) noexcept;
}

namespace sf::onednn {
namespace {

// softplus(z) = max(z, 0) + log(1 + e^−|z|); log(1 + e) instead of log1p(e) so it vectorises: the absolute
// error for tiny e is below float resolution of the result.
inline float softplus(float z) { return (z < 0.0f ? 0.0f : z) + logf(1.0f + expf(-__builtin_fabsf(z))); }
inline float logistic(float z) { return 1.0f / (1.0f + expf(-z)); }

constexpr int64_t kGrain = 65536;  // elements below which one thread is faster

class ActivationLoops final : public ActivationOp {
 public:
  using ActivationOp::ActivationOp;
  const char* impl() const override { return "openmp"; }

  void forward(std::span<const Tensor* const> in, Tensor& out) override {
    const float* __restrict x = in[0]->data();
    float* __restrict y = out.data();
    const int64_t n = out.numel();
    const float ks = act_.ks, inv = 1.0f / act_.ks;
    switch (act_.kind) {
      case ActKind::relu:
        parallel_for(n, kGrain, [=](int64_t lo, int64_t hi, int) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
        });
        break;
      case ActKind::softplus:
        parallel_for(n, kGrain, [=](int64_t lo, int64_t hi, int) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) y[i] = softplus(x[i]);
        });
        break;
      case ActKind::noisy_softplus:
        parallel_for(n, kGrain, [=](int64_t lo, int64_t hi, int) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) y[i] = ks * softplus(x[i] * inv);
        });
        break;
    }
  }

  // dx = f'(x) · dy
  void backward(std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float* __restrict x = in[0]->data();
    const float* __restrict dy = gout.data();
    float* __restrict dx = gin[0]->data();
    const int64_t n = gout.numel();
    const float inv = 1.0f / act_.ks;
    switch (act_.kind) {
      case ActKind::relu:
        parallel_for(n, kGrain, [=](int64_t lo, int64_t hi, int) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f * dy[i];
        });
        break;
      case ActKind::softplus:
        parallel_for(n, kGrain, [=](int64_t lo, int64_t hi, int) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) dx[i] = logistic(x[i]) * dy[i];
        });
        break;
      case ActKind::noisy_softplus:
        parallel_for(n, kGrain, [=](int64_t lo, int64_t hi, int) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) dx[i] = logistic(x[i] * inv) * dy[i];
        });
        break;
    }
  }
};

}  // namespace

OpPtr make_activation_loops(const std::string& type, const Attrs& a) {
  return std::make_unique<ActivationLoops>(type, a);
}

}  // namespace sf::onednn
