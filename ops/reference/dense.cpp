#include "ops/dense.h"

#include "ops/reference/kernels.h"

namespace sf::reference {
namespace {

class Dense final : public DenseOp {
 public:
  using DenseOp::DenseOp;
  const char* impl() const override { return "reference"; }

  // y[n,o] = b[o] + Σ_i w[o,i] x[n,i]
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float *x = in[0]->data(), *w = in[1]->data(), *b = g_.bias ? in[2]->data() : nullptr;
    float* y = out.data();
    for (int64_t n = 0; n < g_.n; ++n)
      for (int64_t o = 0; o < g_.out; ++o) {
        double acc = b ? b[o] : 0.0;
        for (int64_t i = 0; i < g_.in; ++i) acc += w[o * g_.in + i] * x[n * g_.in + i];
        y[n * g_.out + o] = static_cast<float>(acc);
      }
  }

  // dx[n,i] = Σ_o w[o,i] dy[n,o];  dw[o,i] = Σ_n dy[n,o] x[n,i];  db[o] = Σ_n dy[n,o]
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    const float *x = in[0]->data(), *w = in[1]->data(), *dy = gout.data();
    if (Tensor* dx = gin[0])
      for (int64_t n = 0; n < g_.n; ++n)
        for (int64_t i = 0; i < g_.in; ++i) {
          double acc = 0.0;
          for (int64_t o = 0; o < g_.out; ++o) acc += w[o * g_.in + i] * dy[n * g_.out + o];
          (*dx)[n * g_.in + i] = static_cast<float>(acc);
        }
    if (Tensor* dw = gin[1])
      for (int64_t o = 0; o < g_.out; ++o)
        for (int64_t i = 0; i < g_.in; ++i) {
          double acc = 0.0;
          for (int64_t n = 0; n < g_.n; ++n) acc += dy[n * g_.out + o] * x[n * g_.in + i];
          (*dw)[o * g_.in + i] = static_cast<float>(acc);
        }
    if (g_.bias && gin[2])
      for (int64_t o = 0; o < g_.out; ++o) {
        double acc = 0.0;
        for (int64_t n = 0; n < g_.n; ++n) acc += dy[n * g_.out + o];
        (*gin[2])[o] = static_cast<float>(acc);
      }
  }
};

}  // namespace

OpPtr make_dense(const Attrs& a) { return std::make_unique<Dense>(a); }

}  // namespace sf::reference
