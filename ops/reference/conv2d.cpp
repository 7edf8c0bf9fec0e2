#include "ops/conv2d.h"

#include "ops/reference/kernels.h"

namespace sf::reference {
namespace {

class Conv2d final : public Conv2dOp {
 public:
  using Conv2dOp::Conv2dOp;
  const char* impl() const override { return "reference"; }

  // y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n, g·Cg + c, i·s+u−p, j·s+v−p],  g = o / Og
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const auto& g = g_;
    const float *x = in[0]->data(), *w = in[1]->data(), *b = g.bias ? in[2]->data() : nullptr;
    float* y = out.data();
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t o = 0; o < g.o; ++o)
        for (int64_t i = 0; i < g.oh; ++i)
          for (int64_t j = 0; j < g.ow; ++j) {
            double acc = b ? b[o] : 0.0;
            for (int64_t c = 0; c < g.cg(); ++c)
              for (int64_t u = 0; u < g.kh; ++u)
                for (int64_t v = 0; v < g.kw; ++v) {
                  const int64_t r = i * g.stride + u - g.pad, s = j * g.stride + v - g.pad;
                  if (r < 0 || r >= g.h || s < 0 || s >= g.w) continue;
                  acc += w[wi(o, c, u, v)] * x[xi(n, o / g.og() * g.cg() + c, r, s)];
                }
            y[yi(n, o, i, j)] = static_cast<float>(acc);
          }
  }

  // dx[n,gc,r,s] = Σ w[o,c,u,v] · dy[n,o,i,j] over o in group g and (i,u), (j,v) with r = i·s+u−p, s = j·s+v−p
  // dw[o,c,u,v] = Σ_{n,i,j} dy[n,o,i,j] · x[n, g·Cg + c, i·s+u−p, j·s+v−p];  db[o] = Σ_{n,i,j} dy[n,o,i,j]
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
            const float d = dy[yi(n, o, i, j)];
            if (db) db[o] += d;
            for (int64_t c = 0; c < g.cg(); ++c)
              for (int64_t u = 0; u < g.kh; ++u)
                for (int64_t v = 0; v < g.kw; ++v) {
                  const int64_t r = i * g.stride + u - g.pad, s = j * g.stride + v - g.pad;
                  if (r < 0 || r >= g.h || s < 0 || s >= g.w) continue;
                  const int64_t k = wi(o, c, u, v), e = xi(n, o / g.og() * g.cg() + c, r, s);
                  if (dx) dx[e] += w[k] * d;
                  if (dw) dw[k] += x[e] * d;
                }
          }
  }

 private:
  // Element offsets of x (channel c of C), w and y in the op's layout.
  int64_t xi(int64_t n, int64_t c, int64_t r, int64_t s) const {
    return g_.nhwc ? ((n * g_.h + r) * g_.w + s) * g_.c + c : ((n * g_.c + c) * g_.h + r) * g_.w + s;
  }
  int64_t wi(int64_t o, int64_t c, int64_t u, int64_t v) const { return ((o * g_.cg() + c) * g_.kh + u) * g_.kw + v; }
  int64_t yi(int64_t n, int64_t o, int64_t i, int64_t j) const {
    return g_.nhwc ? ((n * g_.oh + i) * g_.ow + j) * g_.o + o : ((n * g_.o + o) * g_.oh + i) * g_.ow + j;
  }
};

}  // namespace

OpPtr make_conv2d(const Attrs& a) { return std::make_unique<Conv2d>(a); }

}  // namespace sf::reference
