// global_avgpool: y[n,c] = 1/(H·W) Σ_{i,j} x[n,c,i,j] — the mean over each channel's whole map (Keras
// GlobalAveragePooling2D). Input [N,C,H,W] (layout nchw, the default) or [N,H,W,C] (layout nhwc); output
// [N,C] either way, so a dense layer or a 1×1 convolution on [N,C,1,1] can follow.
// dx[n,c,i,j] = dy[n,c] / (H·W).
#pragma once
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr AttrSpec kGlobalAvgPoolAttrs[] = {string_attr("layout", "nchw", "nchw|nhwc")};
inline constexpr OpSchema kGlobalAvgPoolSchema{"global_avgpool", kGlobalAvgPoolAttrs};

struct GlobalPoolGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;
  bool nhwc = false;
  int64_t hw() const { return h * w; }
};

class GlobalAvgPoolOp : public Op {
 public:
  explicit GlobalAvgPoolOp(const Attrs& a);
  const char* type() const override { return "global_avgpool"; }
  Shape prepare(std::span<const Shape> inputs) override;
  // Backward needs only the output gradient (and the shapes).
  bool backward_reads_input(int) const override { return false; }
  bool backward_reads_output() const override { return false; }

 protected:
  GlobalPoolGeometry g_{};
};

}  // namespace sf
