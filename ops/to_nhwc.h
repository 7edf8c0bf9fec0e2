// to_nhwc: y[n,i,j,c] = x[n,c,i,j] — [N,C,H,W] → [N,H,W,C], so that an NCHW data pipeline can feed a net
// whose ops run with layout nhwc. Backward transposes the gradient back. No attributes.
#pragma once
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr OpSchema kToNhwcSchema{"to_nhwc", {}};  // no attributes

class ToNhwcOp : public Op {
 public:
  explicit ToNhwcOp(const Attrs&) {}
  const char* type() const override { return "to_nhwc"; }
  Shape prepare(std::span<const Shape> inputs) override;
  // Backward needs only the output gradient (and the shapes).
  bool backward_reads_input(int) const override { return false; }
  bool backward_reads_output() const override { return false; }

 protected:
  int64_t n_ = 0, c_ = 0, h_ = 0, w_ = 0;
};

}  // namespace sf
