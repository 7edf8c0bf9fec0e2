// dropout (inverted, as Keras and PyTorch): in train mode each element is kept with probability 1 − rate and
// scaled by 1/(1 − rate), else zeroed; in eval mode (and at rate 0) the op is the identity. Backward applies
// the same mask to the gradient.
//
// The mask is a pure function of (ctx.random_key, attr stream, sample index ctx.first_sample + row, element
// index within the sample): a per-sample key stream_seed(random_key, Stream::dropout, stream, sample) and
// SplitMix64's output at position e of it for element e. So a batch gives the same masks however it is split
// over threads or data-parallel replicas, and backward recomputes the forward's mask instead of storing it.
// Attrs: rate in [0, 1) (0.5); stream (0): distinct values give a net's dropout layers independent masks.
//
// Two kernels: "reference" (it is the CPU kernel too), a memory-bound map with a hash per element, and the CUDA
// one (ops/cuda/dropout.cu), the same map through the same SF_HD mask, so both devices drop the same elements.
#pragma once
#include <cstdint>

#include "core/hd.h"
#include "core/op.h"
#include "core/rng.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr AttrSpec kDropoutAttrs[] = {float_attr("rate", 0.5), int_attr("stream", 0)};
inline constexpr OpSchema kDropoutSchema{"dropout", kDropoutAttrs};

// The mask's math, shared by every kernel.
struct DropoutMask {
  uint32_t threshold = 0;  // an element is dropped when its 32 random bits fall below this: P = rate
  float scale = 1.0f;      // 1 / (1 − rate), the kept elements' factor

  explicit DropoutMask(double rate)
      : threshold(static_cast<uint32_t>(rate * 4294967296.0)), scale(static_cast<float>(1.0 / (1.0 - rate))) {}
  SF_HD static uint64_t sample_key(uint64_t random_key, int64_t stream, int64_t sample) {
    return stream_seed(random_key, Stream::dropout, static_cast<uint64_t>(stream), static_cast<uint64_t>(sample));
  }
  // The factor of element e of the sample with this key: 0 (dropped) or scale.
  SF_HD float factor(uint64_t key, int64_t e) const {
    const uint64_t bits = mix64(key + (static_cast<uint64_t>(e) + 1) * 0x9e3779b97f4a7c15ULL);
    return static_cast<uint32_t>(bits >> 32) >= threshold ? scale : 0.0f;
  }
};

class DropoutOp : public Op {
 public:
  explicit DropoutOp(const Attrs& a);
  const char* type() const override { return "dropout"; }
  const char* impl() const override { return "reference"; }
  Shape prepare(std::span<const Shape> inputs) override;
  // Backward needs only the output gradient (and the shapes).
  bool backward_reads_input(int) const override { return false; }
  bool backward_reads_output() const override { return false; }
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override;
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor& out, const Tensor& gout,
                std::span<Tensor* const> gin) override;

 protected:
  // y = x ⊙ mask (train, rate > 0) or y = x.
  virtual void apply(const ExecContext& ctx, const Tensor& x, Tensor& y) const;

  double rate_;
  int64_t stream_;
  DropoutMask mask_;
};

}  // namespace sf
