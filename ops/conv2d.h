// conv2d: y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n, c, i·s + u − p, j·s + v − p]
// Inputs: x [N,C,H,W], w [O,C,KH,KW], optional b [O]. Attrs: stride (1), pad (0), the same for both axes.
#pragma once
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr AttrSpec kConv2dAttrs[] = {int_attr("stride", 1), int_attr("pad", 0)};
inline constexpr OpSchema kConv2dSchema{"conv2d", kConv2dAttrs};

struct ConvGeometry {
  int64_t n, c, h, w;  // input
  int64_t o, kh, kw;   // filters
  int64_t oh, ow;      // output
  int64_t stride, pad;
  bool bias;
};

// Shape rules shared by every conv2d kernel.
class Conv2dOp : public Op {
 public:
  explicit Conv2dOp(const Attrs& a);
  const char* type() const override { return "conv2d"; }
  Shape prepare(std::span<const Shape> inputs) override;

 protected:
  ConvGeometry g_{};
};

}  // namespace sf
