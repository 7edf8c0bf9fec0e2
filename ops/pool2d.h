// avgpool2d: y[n,c,i,j] = mean over the k×k window at (i·s − p, j·s − p), padding excluded from the count
// (Keras / TF "valid" pooling never pads; with pad > 0 this matches PyTorch count_include_pad=False).
// Attrs: kernel (2), stride (= kernel), pad (0).
#pragma once
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr AttrSpec kAvgPool2dAttrs[] = {int_attr("kernel", 2), derived(int_attr("stride", 0)),
                                               int_attr("pad", 0)};
inline constexpr OpSchema kAvgPool2dSchema{"avgpool2d", kAvgPool2dAttrs};

struct PoolGeometry {
  int64_t n, c, h, w, oh, ow, k, stride, pad;
};

class AvgPool2dOp : public Op {
 public:
  explicit AvgPool2dOp(const Attrs& a);
  const char* type() const override { return "avgpool2d"; }
  Shape prepare(std::span<const Shape> inputs) override;
  // Backward needs only the output gradient (and the shapes).
  bool backward_reads_input(int) const override { return false; }
  bool backward_reads_output() const override { return false; }

 protected:
  PoolGeometry g_{};
};

}  // namespace sf
