#include "ops/global_avgpool.h"

#include "ops/reference/kernels.h"

namespace sf::reference {
namespace {

class GlobalAvgPool final : public GlobalAvgPoolOp {
 public:
  using GlobalAvgPoolOp::GlobalAvgPoolOp;
  const char* impl() const override { return "reference"; }

  // y[n,c] = 1/(H·W) Σ_s x[n,c,s]
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->data();
    float* y = out.data();
    for (int64_t n = 0; n < g_.n; ++n)
      for (int64_t c = 0; c < g_.c; ++c) {
        double acc = 0;
        for (int64_t s = 0; s < g_.hw(); ++s) acc += x[at(n, c, s)];
        y[n * g_.c + c] = static_cast<float>(acc / static_cast<double>(g_.hw()));
      }
  }

  // dx[n,c,s] = dy[n,c] / (H·W)
  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float* dy = gout.data();
    float* dx = gin[0]->data();
    for (int64_t n = 0; n < g_.n; ++n)
      for (int64_t c = 0; c < g_.c; ++c)
        for (int64_t s = 0; s < g_.hw(); ++s)
          dx[at(n, c, s)] = static_cast<float>(dy[n * g_.c + c] / static_cast<double>(g_.hw()));
  }

 private:
  int64_t at(int64_t n, int64_t c, int64_t s) const {
    return g_.nhwc ? (n * g_.hw() + s) * g_.c + c : (n * g_.c + c) * g_.hw() + s;
  }
};

}  // namespace

OpPtr make_global_avgpool(const Attrs& a) { return std::make_unique<GlobalAvgPool>(a); }

}  // namespace sf::reference
