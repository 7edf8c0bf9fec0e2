#include "ops/to_nhwc.h"

#include "ops/shape_check.h"

namespace sf {

Shape ToNhwcOp::prepare(std::span<const Shape> in) {
  expect_inputs("to_nhwc", in, 1, 1);
  expect_rank("to_nhwc", "input", in[0], 4);
  n_ = in[0][0], c_ = in[0][1], h_ = in[0][2], w_ = in[0][3];
  return {n_, h_, w_, c_};
}

}  // namespace sf
