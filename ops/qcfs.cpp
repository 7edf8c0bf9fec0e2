#include "ops/qcfs.h"

#include <algorithm>

#include "core/parallel.h"
#include "ops/shape_check.h"

namespace sf {

namespace {
constexpr int64_t kBlock = 16384;  // floats per partial sum of ∂λ
constexpr int64_t kGrain = 65536;  // floats below which one thread is faster (as the other activations)

Qcfs make_qcfs(const Attrs& a) {
  const int64_t levels = kQcfsSchema.get_int(a, "levels");
  expect(levels >= 1 && levels <= 1 << 16, "qcfs", "levels must be in [1, 65536], got " + std::to_string(levels));
  return Qcfs{static_cast<float>(levels)};
}

float threshold(const Tensor& t) {
  const float lambda = t[0];
  expect(lambda > 0 && std::isfinite(lambda), "qcfs",
         "the threshold λ must be a finite number > 0, got " + std::to_string(lambda));
  return lambda;
}
}  // namespace

QcfsOp::QcfsOp(const Attrs& a) : q_(make_qcfs(a)) {}

Shape QcfsOp::prepare(std::span<const Shape> in) {
  expect_inputs("qcfs", in, 2, 2);
  expect(numel(in[1]) == 1, "qcfs", "the threshold must hold one value, got shape " + to_string(in[1]));
  partial_.assign(static_cast<size_t>((numel(in[0]) + kBlock - 1) / kBlock), 0.0);
  return in[0];
}

// Elementwise, one plain loop over threads: it is the reference kernel and the CPU kernel alike.
void QcfsOp::forward(const ExecContext&, std::span<const Tensor* const> in, Tensor& out) {
  const float lambda = threshold(*in[1]);
  const float* x = in[0]->data();
  float* y = out.data();
  const Qcfs q = q_;
  parallel_for(out.numel(), kGrain, [=](int64_t lo, int64_t hi, int) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) y[i] = q.forward(x[i], lambda);
  });
}

void QcfsOp::backward(const ExecContext&, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                      std::span<Tensor* const> gin) {
  const float lambda = threshold(*in[1]);
  const float *x = in[0]->data(), *g = gout.data();
  const int64_t n = gout.numel();
  const Qcfs q = q_;
  if (gin[0]) {
    float* dx = gin[0]->data();
    parallel_for(n, kGrain, [=](int64_t lo, int64_t hi, int) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) dx[i] = Qcfs::passes(x[i] / lambda) ? g[i] : 0.0f;
    });
  }
  if (!gin[1]) return;
  const int64_t blocks = static_cast<int64_t>(partial_.size());
  double* part = partial_.data();
  parallel_for(blocks, std::max<int64_t>(1, kGrain / kBlock), [=](int64_t lo, int64_t hi, int) {
    for (int64_t b = lo; b < hi; ++b) {
      float s = 0.0f;
      const int64_t end = std::min(n, (b + 1) * kBlock);
#pragma omp simd reduction(+ : s)
      for (int64_t i = b * kBlock; i < end; ++i) s += g[i] * q.dlambda(x[i], lambda);
      part[b] = s;
    }
  });
  double total = 0;
  for (int64_t b = 0; b < blocks; ++b) total += part[b];
  (*gin[1])[0] = static_cast<float>(total);
}

}  // namespace sf
