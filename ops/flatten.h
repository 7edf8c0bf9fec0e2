// flatten: [N, d1, d2, ...] → [N, d1·d2·…] (row-major, so NCHW flattens channel-major like PyTorch;
// Keras flattens NHWC — checkpoints store our order, and importers must permute).
#pragma once
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr OpSchema kFlattenSchema{"flatten", {}};  // no attributes

class FlattenOp : public Op {
 public:
  explicit FlattenOp(const Attrs&) {}
  const char* type() const override { return "flatten"; }
  const char* impl() const override { return "reference"; }
  Shape prepare(std::span<const Shape> inputs) override;
  // Backward needs only the output gradient (and the shapes).
  bool backward_reads_input(int) const override { return false; }
  bool backward_reads_output() const override { return false; }
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    out.copy_from(*in[0]);
  }
  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (gin[0]) gin[0]->copy_from(gout);
  }
};

}  // namespace sf
