// batchnorm (Ioffe & Szegedy 2015; Keras BatchNormalization defaults):
//   y = γ[c] · (x − μ[c]) / sqrt(σ²[c] + eps) + β[c]   per channel c
// Inputs: x ([N,C,H,W] or [N,H,W,C] per attr layout, or [N,C] after a dense layer), gamma [C], beta [C].
// State (Op::bind_state, exactly these two in this order): running_mean [C], running_var [C].
// Train mode: μ, σ² are the batch's mean and biased variance over N·H·W values; with ctx.update_state the
// running statistics move towards them, running = momentum · running + (1 − momentum) · batch, the variance
// with the unbiased estimate σ² · m/(m − 1) (m = N·H·W; as PyTorch and TF's fused batch norm). Backward is the
// full batch-norm backward (μ and σ² depend on x). Eval mode: μ, σ² are the running statistics and backward
// is the affine map's (frozen batch norm: dx = γ·dy/sqrt(var + eps), dγ and dβ as usual).
// Attrs: momentum (0.99, Keras; PyTorch's 0.1 is 1 − momentum here), eps (1e-3, Keras), layout (nchw | nhwc;
// ignored for rank-2 input), activation (none | relu | relu6): the activation that follows, fused — the output
// is max(y, 0) or min(max(y, 0), 6), and backward masks dy where the output is clipped (recomputing y from x
// with the forward's coefficients). Model::build fuses a
// batchnorm layer and the ReLU/ReLU6 layer after it this way: the pair is memory-bound, and the fused op reads
// and writes the activations once instead of twice in each direction.
// sync (0 | 1): 1 normalises over the whole data-parallel batch, every shard's part of it (PyTorch's
// SyncBatchNorm): the train-mode mean and variance, the backward's Σ dy and Σ dy·x̂ and the running
// statistics' m are gathered through ExecContext::sync_stats (the graph's alone when that is null); dγ and dβ
// stay each shard's own, for the gradient reducer.
#pragma once
#include <algorithm>
#include <vector>

#include "core/op.h"
#include "ops/op_schema.h"

namespace sf {

inline constexpr AttrSpec kBatchNormAttrs[] = {
    float_attr("momentum", 0.99), float_attr("eps", 1e-3), string_attr("layout", "nchw", "nchw|nhwc"),
    string_attr("activation", "none", "none|relu|relu6"), int_attr("sync", 0)};
inline constexpr OpSchema kBatchNormSchema{"batchnorm", kBatchNormAttrs};

struct BatchNormGeometry {
  int64_t n = 0, c = 0, hw = 1;  // batch, channels, spatial positions per image (1 for [N,C])
  bool channels_last = false;    // nhwc or rank 2: channel is the fastest-varying index
  bool rank2 = false;
  int64_t m() const { return n * hw; }  // values per channel
  // Offset of (image, channel, position) in x.
  int64_t at(int64_t i, int64_t ch, int64_t s) const {
    return channels_last ? (i * hw + s) * c + ch : (i * c + ch) * hw + s;
  }
};

// Shape rules, attributes and the running statistics shared by every batchnorm kernel.
class BatchNormOp : public Op {
 public:
  explicit BatchNormOp(const Attrs& a);
  const char* type() const override { return "batchnorm"; }
  Shape prepare(std::span<const Shape> inputs) override;
  void bind_state(std::span<const Tensor> state) override;
  // Backward reads x, γ and β (the fused activation's mask is recomputed from x); a kernel that reads the
  // output instead says so.
  bool backward_reads_output() const override { return false; }

 protected:
  // The running statistics for an eval-mode pass: an internal error when none are bound.
  void require_state() const;
  // running = momentum · running + (1 − momentum) · batch (variance unbiased with the m values it was taken
  // over), if ctx asks for it and state is bound; `var` is the biased batch variance.
  void update_running(const ExecContext& ctx, const float* mean, const float* var, double m);
  // With sync and a sync_stats: the whole batch's per-channel mean and biased variance from every shard's
  // (merged in rank order, Chan et al.'s pairwise form), replacing this graph's; returns the values per
  // channel they cover (this graph's g_.m() otherwise).
  double merge_moments(const ExecContext& ctx, std::vector<double>& mean, std::vector<double>& var) const;
  // With sync and a sync_stats: the backward's per-channel sums (Σ dy, Σ dy·x̂) over the whole batch, for dx,
  // in place. Shard p's count as m_p / m (m this one's): each shard's loss is the mean over its own
  // samples and the gradient reducer weighs shard p by m_p / M, so Σ_p (m_p / M)·dx_p is then the whole
  // batch's gradient. (PyTorch's SyncBatchNorm sums them unweighted, right for equal shares.) dγ and dβ stay
  // this shard's own: the reducer sums them like every other parameter's.
  void whole_batch_sums(const ExecContext& ctx, std::vector<double>& a, std::vector<double>& b) const;
  bool synced(const ExecContext& ctx) const { return sync_ && ctx.sync_stats && ctx.training(); }
  // The fused activation: the output of a normalised value y, and whether the gradient passes at an output z
  // (0 < z < hi; z in (0, hi) exactly when y is).
  float activate(float y) const { return fused_ ? std::min(std::max(y, 0.0f), hi_) : y; }
  bool passes(float z) const { return !fused_ || (z > 0.0f && z < hi_); }

  BatchNormGeometry g_{};
  double momentum_, eps_;
  bool nhwc_;
  bool sync_ = false;
  bool fused_ = false;                 // activation != none
  float hi_ = 0.0f;                    // its upper clip: 6, or +∞ for ReLU
  Tensor running_mean_, running_var_;  // share storage with the model's buffers; undefined until bound

 private:
  // Every shard's row [m, a₀ … a_{C−1}, b₀ … b_{C−1}] (m its values per channel) through ctx.sync_stats,
  // concatenated in shard order: what merge_moments and whole_batch_sums send.
  std::vector<double> gather_rows(const ExecContext& ctx, const std::vector<double>& a,
                                  const std::vector<double>& b) const;
};

}  // namespace sf
