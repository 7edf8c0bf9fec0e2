#include "ops/pool2d.h"

#include "ops/shape_check.h"

namespace sf {

AvgPool2dOp::AvgPool2dOp(const Attrs& a) {
  g_.k = kAvgPool2dSchema.get_int(a, "kernel");
  g_.stride = kAvgPool2dSchema.get_int(a, "stride", g_.k);
  g_.pad = kAvgPool2dSchema.get_int(a, "pad");
  expect(g_.k >= 1 && g_.stride >= 1 && g_.pad >= 0 && g_.pad < g_.k, "avgpool2d",
         "kernel and stride must be >= 1 and 0 <= pad < kernel");
}

Shape AvgPool2dOp::prepare(std::span<const Shape> in) {
  expect_inputs("avgpool2d", in, 1, 1);
  expect_rank("avgpool2d", "input", in[0], 4);
  g_.n = in[0][0], g_.c = in[0][1], g_.h = in[0][2], g_.w = in[0][3];
  // Checked before dividing: integer division truncates toward zero, so (−1) / 2 + 1 would give 1.
  expect(g_.h + 2 * g_.pad >= g_.k && g_.w + 2 * g_.pad >= g_.k, "avgpool2d",
         "window larger than input " + to_string(in[0]));
  g_.oh = (g_.h + 2 * g_.pad - g_.k) / g_.stride + 1;
  g_.ow = (g_.w + 2 * g_.pad - g_.k) / g_.stride + 1;
  return {g_.n, g_.c, g_.oh, g_.ow};
}

}  // namespace sf
