// Losses take (prediction [N,K], target [N,K]) and return a one-element tensor; only the prediction gets
// a gradient.
//   mse_loss              L = 1/(N·K) Σ (y − t)²   (Keras mean_squared_error: mean over classes, then batch)
//                         dL/dy = 2 (y − t) / (N·K)
//   softmax_cross_entropy L = −1/N Σ_n Σ_k t log softmax(y)_k — the softmax is inside the op, so the
//                         loss always sees probabilities (the seed's pitfall of feeding it linear outputs
//                         cannot happen); dL/dy = (softmax(y)·Σt − t) / N
#pragma once
#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

// The loss op types (no attributes), in one place for the registrations and the attribute tables.
inline constexpr OpSchema kLosses[] = {{"mse_loss", {}}, {"softmax_cross_entropy", {}}};

class LossOp : public Op {
 public:
  explicit LossOp(std::string type) : type_(std::move(type)) {}
  const char* type() const override { return type_.c_str(); }
  Shape prepare(std::span<const Shape> inputs) override;
  bool backward_reads_output() const override { return false; }  // backward reads the inputs only

 protected:
  std::string type_;
  int64_t n_ = 0, k_ = 0;
};

}  // namespace sf
