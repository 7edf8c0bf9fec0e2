#include "ops/global_avgpool.h"

#include "ops/shape_check.h"

namespace sf {

GlobalAvgPoolOp::GlobalAvgPoolOp(const Attrs& a) { g_.nhwc = kGlobalAvgPoolSchema.get_string(a, "layout") == "nhwc"; }

Shape GlobalAvgPoolOp::prepare(std::span<const Shape> in) {
  expect_inputs("global_avgpool", in, 1, 1);
  expect_rank("global_avgpool", "input", in[0], 4);
  const Shape& x = in[0];
  g_.n = x[0];
  if (g_.nhwc)
    g_.h = x[1], g_.w = x[2], g_.c = x[3];
  else
    g_.c = x[1], g_.h = x[2], g_.w = x[3];
  expect(g_.h > 0 && g_.w > 0, "global_avgpool", "empty map in input " + to_string(x));
  return {g_.n, g_.c};
}

}  // namespace sf
