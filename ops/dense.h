// dense (Keras Dense, linear): y[n,o] = b[o] + Σ_i w[o,i] · x[n,i]
// Inputs: x [N,I], w [O,I] (PyTorch / oneDNN "oi" layout), optional b [O].
#pragma once
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr OpSchema kDenseSchema{"dense", {}};  // no attributes

struct DenseGeometry {
  int64_t n, in, out;
  bool bias;
};

class DenseOp : public Op {
 public:
  explicit DenseOp(const Attrs&) {}
  const char* type() const override { return "dense"; }
  Shape prepare(std::span<const Shape> inputs) override;
  bool backward_reads_output() const override { return false; }  // backward reads the inputs only

 protected:
  DenseGeometry g_{};
};

}  // namespace sf
