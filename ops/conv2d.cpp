#include "ops/conv2d.h"

#include "ops/shape_check.h"

namespace sf {

Conv2dOp::Conv2dOp(const Attrs& a) {
  g_.stride = kConv2dSchema.get_int(a, "stride");
  g_.pad = kConv2dSchema.get_int(a, "pad");
  g_.groups = kConv2dSchema.get_int(a, "groups");
  g_.nhwc = kConv2dSchema.get_string(a, "layout") == "nhwc";
  expect(g_.stride >= 1 && g_.pad >= 0, "conv2d", "stride must be >= 1 and pad >= 0");
  expect(g_.groups >= 1, "conv2d", "groups must be >= 1, got " + std::to_string(g_.groups));
}

Shape Conv2dOp::prepare(std::span<const Shape> in) {
  expect_inputs("conv2d", in, 2, 3);
  expect_rank("conv2d", "input", in[0], 4);
  expect_rank("conv2d", "weight", in[1], 4);
  const Shape& x = in[0];
  g_.n = x[0];
  if (g_.nhwc)
    g_.h = x[1], g_.w = x[2], g_.c = x[3];
  else
    g_.c = x[1], g_.h = x[2], g_.w = x[3];
  g_.o = in[1][0], g_.kh = in[1][2], g_.kw = in[1][3];
  const std::string G = std::to_string(g_.groups);
  expect(g_.c % g_.groups == 0, "conv2d", "channels " + std::to_string(g_.c) + " not divisible by groups " + G);
  expect(g_.o % g_.groups == 0, "conv2d", "output channels " + std::to_string(g_.o) + " not divisible by groups " + G);
  expect(in[1][1] == g_.cg(), "conv2d",
         "weight " + to_string(in[1]) + " does not match input " + to_string(x) + " (" + (g_.nhwc ? "nhwc" : "nchw") +
             ", groups " + G + ": weight dim 1 must be " + std::to_string(g_.cg()) + ")");
  g_.bias = in.size() == 3;
  if (g_.bias) expect(in[2] == Shape{g_.o}, "conv2d", "bias must be [" + std::to_string(g_.o) + "]");
  // Checked before dividing: integer division truncates toward zero, so (−1) / 2 + 1 would give 1.
  expect(g_.h + 2 * g_.pad >= g_.kh && g_.w + 2 * g_.pad >= g_.kw, "conv2d",
         "kernel larger than padded input " + to_string(x));
  g_.oh = (g_.h + 2 * g_.pad - g_.kh) / g_.stride + 1;
  g_.ow = (g_.w + 2 * g_.pad - g_.kw) / g_.stride + 1;
  if (g_.nhwc) return {g_.n, g_.oh, g_.ow, g_.o};
  return {g_.n, g_.o, g_.oh, g_.ow};
}

}  // namespace sf
