// dropout on the GPU: the reference's map (ops/dropout.h) with the same SF_HD mask, one thread per element,
// so a seed drops the same elements on both devices and backward recomputes the mask instead of storing it.
#include "core/cuda/elementwise.cuh"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"
#include "ops/dropout.h"

namespace sf::cuda {
namespace {

class DropoutKernel final : public DropoutOp {
 public:
  using DropoutOp::DropoutOp;
  const char* impl() const override { return "cuda"; }

  // Public only because nvcc wants extended device lambdas' enclosing functions so.
  void apply(const ExecContext& ctx, const Tensor& x, Tensor& y) const override {
    if (!ctx.training() || rate_ == 0) return y.copy_from(x);
    const int64_t rows = x.dim(0), per_row = rows ? x.numel() / rows : 0;
    const float* xs = x.raw();
    float* ys = y.raw();
    const DropoutMask mask = mask_;
    const uint64_t key = ctx.random_key;
    const uint64_t* key_at = ctx.device_random_key;
    const int64_t first = ctx.first_sample, stream = stream_;
    // The per-sample key is recomputed per element: ten multiply-xor rounds cost less than a second pass.
    launch_elementwise(
        x.numel(), stream_of(ctx),
        [=] __device__(int64_t i) {
          const int64_t r = i / per_row, e = i % per_row;
          const uint64_t step_key = key_at ? *key_at : key;
          ys[i] = xs[i] * mask.factor(DropoutMask::sample_key(step_key, stream, first + r), e);  // NaN · 0 stays NaN
        },
        "dropout");
  }
};

}  // namespace

OpPtr make_dropout(const Attrs& a) { return std::make_unique<DropoutKernel>(a); }

}  // namespace sf::cuda
