// to_nhwc on the GPU: a transpose [N,C,H·W] → [N,H·W,C], one thread per output element (writes coalesced);
// backward the inverse, one thread per gradient element. The input layer's copy only: no tiling needed.
#include "core/cuda/elementwise.cuh"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"
#include "ops/to_nhwc.h"

namespace sf::cuda {
namespace {

class ToNhwcKernel final : public ToNhwcOp {
 public:
  using ToNhwcOp::ToNhwcOp;
  const char* impl() const override { return "cuda"; }

  // y[n,s,c] = x[n,c,s]
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->raw();
    float* y = out.raw();
    const int64_t c = c_, hw = h_ * w_;
    launch_elementwise(
        out.numel(), stream_of(ctx),
        [=] __device__(int64_t i) {
          const int64_t n = i / (hw * c), s = (i / c) % hw, ch = i % c;
          y[i] = x[(n * c + ch) * hw + s];
        },
        "to_nhwc");
  }

  // dx[n,c,s] = dy[n,s,c]
  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float* dy = gout.raw();
    float* dx = gin[0]->raw();
    const int64_t c = c_, hw = h_ * w_;
    launch_elementwise(
        gin[0]->numel(), stream_of(ctx),
        [=] __device__(int64_t i) {
          const int64_t n = i / (c * hw), ch = (i / hw) % c, s = i % hw;
          dx[i] = dy[(n * hw + s) * c + ch];
        },
        "to_nhwc backward");
  }
};

}  // namespace

OpPtr make_to_nhwc(const Attrs& a) { return std::make_unique<ToNhwcKernel>(a); }

}  // namespace sf::cuda
