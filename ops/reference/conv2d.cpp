#include "ops/conv2d.h"

#include "ops/reference/kernels.h"

namespace sf::reference {
namespace {

class Conv2d final : public Conv2dOp {
 public:
  using Conv2dOp::Conv2dOp;
  const char* impl() const override { return "reference"; }

  // y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n,c,i·s+u−p, j·s+v−p]
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const auto& g = g_;
    const float *x = in[0]->data(), *w = in[1]->data(), *b = g.bias ? in[2]->data() : nullptr;
    float* y = out.data();
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t o = 0; o < g.o; ++o)
        for (int64_t i = 0; i < g.oh; ++i)
          for (int64_t j = 0; j < g.ow; ++j) {
            double acc = b ? b[o] : 0.0;
            for (int64_t c = 0; c < g.c; ++c)
              for (int64_t u = 0; u < g.kh; ++u)
                for (int64_t v = 0; v < g.kw; ++v) {
                  const int64_t r = i * g.stride + u - g.pad, s = j * g.stride + v - g.pad;
                  if (r < 0 || r >= g.h || s < 0 || s >= g.w) continue;
                  acc += w[((o * g.c + c) * g.kh + u) * g.kw + v] * x[((n * g.c + c) * g.h + r) * g.w + s];
                }
            y[((n * g.o + o) * g.oh + i) * g.ow + j] = static_cast<float>(acc);
          }
  }

  // dx[n,c,r,s] = Σ w[o,c,u,v] · dy[n,o,i,j] over (i,u), (j,v) with r = i·s+u−p, s = j·s+v−p
  // dw[o,c,u,v] = Σ_{n,i,j} dy[n,o,i,j] · x[n,c,i·s+u−p, j·s+v−p];  db[o] = Σ_{n,i,j} dy[n,o,i,j]
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    const auto& g = g_;
    const float *x = in[0]->data(), *w = in[1]->data(), *dy = gout.data();
    float* dx = gin[0] ? gin[0]->data() : nullptr;
    float* dw = gin[1] ? gin[1]->data() : nullptr;
    float* db = g.bias && gin[2] ? gin[2]->data() : nullptr;
    if (dx) gin[0]->fill(0.0f);
    if (dw) gin[1]->fill(0.0f);
    if (db) gin[2]->fill(0.0f);
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t o = 0; o < g.o; ++o)
        for (int64_t i = 0; i < g.oh; ++i)
          for (int64_t j = 0; j < g.ow; ++j) {
            const float d = dy[((n * g.o + o) * g.oh + i) * g.ow + j];
            if (db) db[o] += d;
            for (int64_t c = 0; c < g.c; ++c)
              for (int64_t u = 0; u < g.kh; ++u)
                for (int64_t v = 0; v < g.kw; ++v) {
                  const int64_t r = i * g.stride + u - g.pad, s = j * g.stride + v - g.pad;
                  if (r < 0 || r >= g.h || s < 0 || s >= g.w) continue;
                  const int64_t wi = ((o * g.c + c) * g.kh + u) * g.kw + v, xi = ((n * g.c + c) * g.h + r) * g.w + s;
                  if (dx) dx[xi] += w[wi] * d;
                  if (dw) dw[wi] += x[xi] * d;
                }
          }
  }
};

}  // namespace

OpPtr make_conv2d(const Attrs& a) { return std::make_unique<Conv2d>(a); }

}  // namespace sf::reference
