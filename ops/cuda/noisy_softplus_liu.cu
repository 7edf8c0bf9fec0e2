// noisy_softplus_liu on the GPU: the σ² pass runs the source layer's CUDA kernel (cuDNN convolution or
// pooling, cuBLAS dense: NoisySoftplusLiuOp makes it for the op's device), and the element-wise steps around it
// are the reference kernel's SF_HD math (NspLiu, ops/noisy_softplus_liu.h), one thread per element.
#include "core/cuda/elementwise.cuh"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"
#include "ops/noisy_softplus_liu.h"

namespace sf::cuda {
namespace {

class NspLiuKernel final : public NoisySoftplusLiuOp {
 public:
  explicit NspLiuKernel(const Attrs& a) : NoisySoftplusLiuOp(a, "", Device::cuda) {}
  const char* impl() const override { return "cuda"; }

  // Public, unlike the base's: nvcc takes no extended __device__ lambda inside a protected member.
  void abs_and_half_square(const ExecContext& ctx, const float* a, float* abs_a, int64_t na, const float* w,
                           float* half_w2, int64_t nw) override {
    launch_elementwise(
        na, stream_of(ctx), [=] __device__(int64_t i) { abs_a[i] = fabsf(a[i]); }, "noisy_softplus_liu |a|");
    launch_elementwise(
        nw, stream_of(ctx), [=] __device__(int64_t i) { half_w2[i] = 0.5f * w[i] * w[i]; }, "noisy_softplus_liu w²/2");
  }
  void scale(const ExecContext& ctx, float* s2, int64_t n, float factor) override {
    launch_elementwise(
        n, stream_of(ctx), [=] __device__(int64_t i) { s2[i] *= factor; }, "noisy_softplus_liu σ²");
  }
  void activate(const ExecContext& ctx, const float* x, const float* s2, float* y, int64_t n) override {
    const NspLiu f = math();
    launch_elementwise(
        n, stream_of(ctx), [=] __device__(int64_t i) { y[i] = f.value(x[i], s2[i]); }, "noisy_softplus_liu");
  }
  void gradient(const ExecContext& ctx, const float* x, const float* s2, const float* dy, float* dx,
                int64_t n) override {
    const NspLiu f = math();
    launch_elementwise(
        n, stream_of(ctx), [=] __device__(int64_t i) { dx[i] = dy[i] * f.slope(x[i], s2[i]); },
        "noisy_softplus_liu backward");
  }
};

}  // namespace

OpPtr make_noisy_softplus_liu(const Attrs& a) { return std::make_unique<NspLiuKernel>(a); }

}  // namespace sf::cuda
