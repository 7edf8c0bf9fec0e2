// Reference activation loops: scalar, with log1p for accuracy. The vectorised CPU kernels are in
// ops/cpu/activation_loops.cpp.
#include "ops/activation.h"

#include "ops/reference/kernels.h"

namespace sf::reference {
namespace {

class ActivationLoop final : public ActivationOp {
 public:
  using ActivationOp::ActivationOp;
  const char* impl() const override { return "reference"; }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->data();
    float* y = out.data();
    const int64_t n = out.numel();
    const Activation act = act_;
    for (int64_t i = 0; i < n; ++i) y[i] = act.f(x[i]);
  }

  // dx = f'(x) · dy
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float *x = in[0]->data(), *dy = gout.data();
    float* dx = gin[0]->data();
    const int64_t n = gout.numel();
    const Activation act = act_;
    for (int64_t i = 0; i < n; ++i) dx[i] = act.df(x[i]) * dy[i];
  }
};

}  // namespace

OpPtr make_activation(const std::string& type, const Attrs& a) { return std::make_unique<ActivationLoop>(type, a); }

}  // namespace sf::reference
