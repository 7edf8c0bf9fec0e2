#include "ops/dropout.h"

#include <algorithm>

#include "core/parallel.h"
#include "ops/shape_check.h"

namespace sf {

DropoutOp::DropoutOp(const Attrs& a)
    : rate_(kDropoutSchema.get_float(a, "rate")),
      stream_(kDropoutSchema.get_int(a, "stream")),
      mask_(rate_ >= 0 && rate_ < 1 ? rate_ : 0.0) {
  expect(rate_ >= 0 && rate_ < 1, "dropout", "attribute 'rate' must be in [0, 1), got " + attr_to_string(rate_));
}

Shape DropoutOp::prepare(std::span<const Shape> in) {
  expect_inputs("dropout", in, 1, 1);
  expect(!in[0].empty(), "dropout", "input must have a batch dimension");
  return in[0];
}

void DropoutOp::apply(const ExecContext& ctx, const Tensor& x, Tensor& y) const {
  if (!ctx.training() || rate_ == 0) return y.copy_from(x);
  const int64_t rows = x.dim(0), per_row = rows ? x.numel() / rows : 0;
  const float* xs = x.data();
  float* ys = y.data();
  const DropoutMask mask = mask_;
  const uint64_t key = ctx.device_random_key ? *ctx.device_random_key : ctx.random_key;  // host memory here
  const int64_t first = ctx.first_sample, stream = stream_;
  // Rows in parallel: each row's mask depends only on its own sample index, so any split gives the same result.
  // The mask is copied out of the closure first: read through it, its fields could alias the stores to y and
  // GCC keeps the parallel path scalar (measured: 7× slower than one thread).
  parallel_for(rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, per_row)), [=](int64_t lo, int64_t hi, int) {
    const DropoutMask m = mask;
    for (int64_t r = lo; r < hi; ++r) {
      const uint64_t k = DropoutMask::sample_key(key, stream, first + r);
      const float* __restrict xr = xs + r * per_row;
      float* __restrict yr = ys + r * per_row;
#pragma omp simd
      for (int64_t e = 0; e < per_row; ++e) yr[e] = xr[e] * m.factor(k, e);  // NaN · 0 stays NaN
    }
  });
}

void DropoutOp::forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) {
  apply(ctx, *in[0], out);
}

// dx = dy ⊙ mask: the forward's mask, recomputed from the same context.
void DropoutOp::backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                         std::span<Tensor* const> gin) {
  if (gin[0]) apply(ctx, gout, *gin[0]);
}

}  // namespace sf
