#include "ops/flatten.h"

#include "ops/shape_check.h"

namespace sf {

Shape FlattenOp::prepare(std::span<const Shape> in) {
  expect_inputs("flatten", in, 1, 1);
  expect(!in[0].empty(), "flatten", "input must have a batch dimension");
  int64_t rest = 1;
  for (size_t i = 1; i < in[0].size(); ++i) rest *= in[0][i];
  return {in[0][0], rest};
}

}  // namespace sf
