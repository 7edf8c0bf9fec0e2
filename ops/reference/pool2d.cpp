#include "ops/pool2d.h"

#include <algorithm>

#include "ops/reference/kernels.h"

namespace sf::reference {
namespace {

class AvgPool2d final : public AvgPool2dOp {
 public:
  using AvgPool2dOp::AvgPool2dOp;
  const char* impl() const override { return "reference"; }

  // Window of output (i, j), clipped to the input; the mean divides by the clipped size.
  struct Window {
    int64_t r0, r1, s0, s1;
    float inv_count;
  };
  Window window(int64_t i, int64_t j) const {
    const auto& g = g_;
    Window w{std::max<int64_t>(i * g.stride - g.pad, 0), std::min(i * g.stride - g.pad + g.k, g.h),
             std::max<int64_t>(j * g.stride - g.pad, 0), std::min(j * g.stride - g.pad + g.k, g.w), 0.0f};
    w.inv_count = 1.0f / static_cast<float>((w.r1 - w.r0) * (w.s1 - w.s0));
    return w;
  }

  // y[n,c,i,j] = mean_{(r,s) ∈ window(i,j)} x[n,c,r,s]
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const auto& g = g_;
    const float* x = in[0]->data();
    float* y = out.data();
    for (int64_t nc = 0; nc < g.n * g.c; ++nc)
      for (int64_t i = 0; i < g.oh; ++i)
        for (int64_t j = 0; j < g.ow; ++j) {
          const Window w = window(i, j);
          double acc = 0.0;
          for (int64_t r = w.r0; r < w.r1; ++r)
            for (int64_t s = w.s0; s < w.s1; ++s) acc += x[(nc * g.h + r) * g.w + s];
          y[(nc * g.oh + i) * g.ow + j] = static_cast<float>(acc) * w.inv_count;
        }
  }

  // dx[n,c,r,s] = Σ_{(i,j) whose window holds (r,s)} dy[n,c,i,j] / |window(i,j)|
  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const auto& g = g_;
    gin[0]->fill(0.0f);
    float* dx = gin[0]->data();
    const float* dy = gout.data();
    for (int64_t nc = 0; nc < g.n * g.c; ++nc)
      for (int64_t i = 0; i < g.oh; ++i)
        for (int64_t j = 0; j < g.ow; ++j) {
          const Window w = window(i, j);
          const float d = dy[(nc * g.oh + i) * g.ow + j] * w.inv_count;
          for (int64_t r = w.r0; r < w.r1; ++r)
            for (int64_t s = w.s0; s < w.s1; ++s) dx[(nc * g.h + r) * g.w + s] += d;
        }
  }
};

}  // namespace

OpPtr make_avgpool2d(const Attrs& a) { return std::make_unique<AvgPool2d>(a); }

}  // namespace sf::reference
