#include "ops/conv2d.h"

#include "ops/shape_check.h"

namespace sf {

Conv2dOp::Conv2dOp(const Attrs& a) {
  g_.stride = kConv2dSchema.get_int(a, "stride");
  g_.pad = kConv2dSchema.get_int(a, "pad");
  expect(g_.stride >= 1 && g_.pad >= 0, "conv2d", "stride must be >= 1 and pad >= 0");
}

Shape Conv2dOp::prepare(std::span<const Shape> in) {
  expect_inputs("conv2d", in, 2, 3);
  expect_rank("conv2d", "input", in[0], 4);
  expect_rank("conv2d", "weight", in[1], 4);
  g_.n = in[0][0], g_.c = in[0][1], g_.h = in[0][2], g_.w = in[0][3];
  g_.o = in[1][0], g_.kh = in[1][2], g_.kw = in[1][3];
  expect(in[1][1] == g_.c, "conv2d",
         "weight " + to_string(in[1]) + " does not match input channels " + to_string(in[0]));
  g_.bias = in.size() == 3;
  if (g_.bias) expect(in[2] == Shape{g_.o}, "conv2d", "bias must be [" + std::to_string(g_.o) + "]");
  // Checked before dividing: integer division truncates toward zero, so (−1) / 2 + 1 would give 1.
  expect(g_.h + 2 * g_.pad >= g_.kh && g_.w + 2 * g_.pad >= g_.kw, "conv2d",
         "kernel larger than padded input " + to_string(in[0]));
  g_.oh = (g_.h + 2 * g_.pad - g_.kh) / g_.stride + 1;
  g_.ow = (g_.w + 2 * g_.pad - g_.kw) / g_.stride + 1;
  return {g_.n, g_.o, g_.oh, g_.ow};
}

}  // namespace sf
