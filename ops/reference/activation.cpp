// Activation loops. The same code is the reference kernel (serial) and the CPU kernel for activations
// oneDNN 2.6 lacks — Noisy Softplus needs softplus with a scale, and 2.6's soft_relu takes no alpha —
// run over OpenMP threads (`parallel`). Each element is independent, so both give identical results.
#include "ops/activation.h"

#include "ops/reference/kernels.h"

namespace sf::reference {
namespace {

class ActivationLoop final : public ActivationOp {
 public:
  ActivationLoop(const std::string& type, const Attrs& a, bool parallel)
      : ActivationOp(type, a), parallel_(parallel) {}
  const char* impl() const override { return parallel_ ? "openmp" : "reference"; }

  void forward(std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->data();
    float* y = out.data();
    const int64_t n = out.numel();
    const Activation act = act_;
#pragma omp parallel for simd if (parallel_ && n > 4096) schedule(static)
    for (int64_t i = 0; i < n; ++i) y[i] = act.f(x[i]);
  }

  // dx = f'(x) · dy
  void backward(std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float *x = in[0]->data(), *dy = gout.data();
    float* dx = gin[0]->data();
    const int64_t n = gout.numel();
    const Activation act = act_;
#pragma omp parallel for simd if (parallel_ && n > 4096) schedule(static)
    for (int64_t i = 0; i < n; ++i) dx[i] = act.df(x[i]) * dy[i];
  }

 private:
  bool parallel_;
};

}  // namespace

OpPtr make_activation(const std::string& type, const Attrs& a, bool parallel) {
  return std::make_unique<ActivationLoop>(type, a, parallel);
}

}  // namespace sf::reference
