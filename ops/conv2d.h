// conv2d: y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n, g·C/G + c, i·s + u − p, j·s + v − p],  g = o / (O/G)
// Inputs: x, w [O, C/G, KH, KW] (PyTorch order whatever the layout), optional b [O]. Attrs: stride (1), pad (0),
// the same for both axes; groups G (1): input and output channels split into G groups, group g's outputs see
// only group g's inputs (depthwise: G = C, O = C·multiplier); layout ("nchw"): x [N,C,H,W] → y [N,O,OH,OW], or
// "nhwc": x [N,H,W,C] → y [N,OH,OW,O].
#pragma once
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr AttrSpec kConv2dAttrs[] = {int_attr("stride", 1), int_attr("pad", 0), int_attr("groups", 1),
                                            string_attr("layout", "nchw", "nchw|nhwc")};
inline constexpr OpSchema kConv2dSchema{"conv2d", kConv2dAttrs};

struct ConvGeometry {
  int64_t n, c, h, w;  // input
  int64_t o, kh, kw;   // filters
  int64_t oh, ow;      // output
  int64_t stride, pad;
  int64_t groups = 1;
  bool nhwc = false;
  bool bias;
  int64_t cg() const { return c / groups; }  // input channels per group (the weight's dim 1)
  int64_t og() const { return o / groups; }  // output channels per group
};

// Shape rules shared by every conv2d kernel.
class Conv2dOp : public Op {
 public:
  explicit Conv2dOp(const Attrs& a);
  const char* type() const override { return "conv2d"; }
  Shape prepare(std::span<const Shape> inputs) override;
  bool backward_reads_output() const override { return false; }  // backward reads the inputs only

 protected:
  ConvGeometry g_{};
};

}  // namespace sf
