#include "ops/to_nhwc.h"

#include "ops/reference/kernels.h"

namespace sf::reference {
namespace {

class ToNhwc final : public ToNhwcOp {
 public:
  using ToNhwcOp::ToNhwcOp;
  const char* impl() const override { return "reference"; }

  // y[n,s,c] = x[n,c,s], s = i·W + j
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->data();
    float* y = out.data();
    const int64_t hw = h_ * w_;
    for (int64_t n = 0; n < n_; ++n)
      for (int64_t c = 0; c < c_; ++c)
        for (int64_t s = 0; s < hw; ++s) y[(n * hw + s) * c_ + c] = x[(n * c_ + c) * hw + s];
  }

  // dx[n,c,s] = dy[n,s,c]
  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float* dy = gout.data();
    float* dx = gin[0]->data();
    const int64_t hw = h_ * w_;
    for (int64_t n = 0; n < n_; ++n)
      for (int64_t c = 0; c < c_; ++c)
        for (int64_t s = 0; s < hw; ++s) dx[(n * c_ + c) * hw + s] = dy[(n * hw + s) * c_ + c];
  }
};

}  // namespace

OpPtr make_to_nhwc(const Attrs& a) { return std::make_unique<ToNhwc>(a); }

}  // namespace sf::reference
