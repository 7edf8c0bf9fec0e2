#include "ops/log_quantize.h"

#include <algorithm>

#include "ops/shape_check.h"

namespace sf {

namespace {
LogQuantizer make_quantizer(const Attrs& a) {
  const int64_t bits = kLogQuantizeSchema.get_int(a, "bits");
  expect(bits >= 1 && bits <= 16, "log_quantize", "bits must be in [1, 16]");
  return LogQuantizer(bits, kLogQuantizeSchema.get_int(a, "fsr"));  // required: fails when absent
}
}  // namespace

LogQuantizeOp::LogQuantizeOp(const Attrs& a) : q_(make_quantizer(a)) {}

Shape LogQuantizeOp::prepare(std::span<const Shape> in) {
  expect_inputs("log_quantize", in, 1, 1);
  return in[0];
}

// The quantiser is elementwise on at most a few hundred thousand values per step; one plain loop serves
// as reference and CPU kernel alike.
void LogQuantizeOp::forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) {
  const float* x = in[0]->data();
  float* y = out.data();
  for (int64_t i = 0; i < out.numel(); ++i) y[i] = q_(x[i]);
}

// Straight-through estimator: d q / d x := 1.
void LogQuantizeOp::backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                             std::span<Tensor* const> gin) {
  if (gin[0]) gin[0]->copy_from(gout);
}

}  // namespace sf
