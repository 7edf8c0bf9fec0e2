#include "ops/loss.h"

#include "ops/shape_check.h"

namespace sf {

Shape LossOp::prepare(std::span<const Shape> in) {
  expect_inputs(type_.c_str(), in, 2, 2);
  expect_rank(type_.c_str(), "prediction", in[0], 2);
  expect(in[0] == in[1], type_.c_str(),
         "prediction " + to_string(in[0]) + " and target " + to_string(in[1]) + " differ");
  n_ = in[0][0], k_ = in[0][1];
  return {1};
}

}  // namespace sf
