#include "core/cuda/elementwise.cuh"
#include "ops/activation.h"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"

namespace sf::cuda {
namespace {

class ActivationKernel final : public ActivationOp {
 public:
  using ActivationOp::ActivationOp;
  const char* impl() const override { return "cuda"; }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->raw();
    float* y = out.raw();
    const Activation act = act_;
    launch_elementwise(
        out.numel(), stream_of(ctx), [=] __device__(int64_t i) { y[i] = act.f(x[i]); }, type());
  }

  // dx = f'(x) · dy
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float *x = in[0]->raw(), *dy = gout.raw();
    float* dx = gin[0]->raw();
    const Activation act = act_;
    launch_elementwise(
        gout.numel(), stream_of(ctx), [=] __device__(int64_t i) { dx[i] = act.df(x[i]) * dy[i]; }, type());
  }
};

}  // namespace

OpPtr make_activation(const std::string& type, const Attrs& a) { return std::make_unique<ActivationKernel>(type, a); }

}  // namespace sf::cuda
