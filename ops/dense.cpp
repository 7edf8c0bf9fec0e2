#include "ops/dense.h"

#include "ops/shape_check.h"

namespace sf {

Shape DenseOp::prepare(std::span<const Shape> in) {
  expect_inputs("dense", in, 2, 3);
  expect_rank("dense", "input", in[0], 2);
  expect_rank("dense", "weight", in[1], 2);
  g_.n = in[0][0], g_.in = in[0][1], g_.out = in[1][0];
  expect(in[1][1] == g_.in, "dense", "weight " + to_string(in[1]) + " does not match input " + to_string(in[0]));
  g_.bias = in.size() == 3;
  if (g_.bias) expect(in[2] == Shape{g_.out}, "dense", "bias must be [" + std::to_string(g_.out) + "]");
  return {g_.n, g_.out};
}

}  // namespace sf
