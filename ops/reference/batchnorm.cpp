#include "ops/batchnorm.h"

#include <cmath>
#include <vector>

#include "ops/reference/kernels.h"

namespace sf::reference {
namespace {

class BatchNorm final : public BatchNormOp {
 public:
  using BatchNormOp::BatchNormOp;
  const char* impl() const override { return "reference"; }
  bool backward_reads_output() const override { return true; }  // the fused activation's mask

  // y = γ·(x − μ)/sqrt(σ² + eps) + β with μ, σ² of the batch (train) or the running ones (eval).
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float *x = in[0]->data(), *gamma = in[1]->data(), *beta = in[2]->data();
    float* y = out.data();
    std::vector<double> mean, var;
    const double m = statistics(ctx, x, mean, var);
    for (int64_t c = 0; c < g_.c; ++c) {
      const double inv = 1.0 / std::sqrt(var[c] + eps_);
      for (int64_t i = 0; i < g_.n; ++i)
        for (int64_t s = 0; s < g_.hw; ++s) {
          const int64_t e = g_.at(i, c, s);
          y[e] = activate(static_cast<float>(gamma[c] * (x[e] - mean[c]) * inv + beta[c]));
        }
    }
    if (ctx.training()) {
      const std::vector<float> mf(mean.begin(), mean.end()), vf(var.begin(), var.end());
      update_running(ctx, mf.data(), vf.data(), m);
    }
  }

  // With x̂ = (x − μ)/sqrt(σ² + eps):  dβ = Σ dy,  dγ = Σ dy·x̂, and
  //   train: dx = γ/sqrt(σ² + eps) · (dy − dβ/m − x̂·dγ/m)   (μ and σ² are functions of x)
  //   eval:  dx = γ/sqrt(σ² + eps) · dy                      (running statistics are constants)
  // A fused activation first masks dy where the output was clipped.
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor& out, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    const float *x = in[0]->data(), *gamma = in[1]->data();
    std::vector<float> masked(gout.to_vector());
    for (int64_t e = 0; e < gout.numel(); ++e)
      if (!passes(out[e])) masked[e] = 0.0f;
    const float* dy = masked.data();
    float* dx = gin[0] ? gin[0]->data() : nullptr;
    float* dgamma = gin[1] ? gin[1]->data() : nullptr;
    float* dbeta = gin[2] ? gin[2]->data() : nullptr;
    std::vector<double> mean, var;
    const double m = statistics(ctx, x, mean, var);  // the forward pass's, recomputed
    std::vector<double> sum_dy(g_.c, 0.0), sum_dy_xhat(g_.c, 0.0);
    for (int64_t c = 0; c < g_.c; ++c) {
      const double inv = 1.0 / std::sqrt(var[c] + eps_);
      for (int64_t i = 0; i < g_.n; ++i)
        for (int64_t s = 0; s < g_.hw; ++s) {
          const int64_t e = g_.at(i, c, s);
          sum_dy[c] += dy[e];
          sum_dy_xhat[c] += dy[e] * (x[e] - mean[c]) * inv;
        }
    }
    for (int64_t c = 0; c < g_.c; ++c) {
      if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat[c]);
      if (dbeta) dbeta[c] = static_cast<float>(sum_dy[c]);
    }
    whole_batch_sums(ctx, sum_dy, sum_dy_xhat);  // for dx, under sync
    for (int64_t c = 0; c < g_.c; ++c) {
      const double inv = 1.0 / std::sqrt(var[c] + eps_);
      if (!dx) continue;
      for (int64_t i = 0; i < g_.n; ++i)
        for (int64_t s = 0; s < g_.hw; ++s) {
          const int64_t e = g_.at(i, c, s);
          const double xhat = (x[e] - mean[c]) * inv;
          const double d = ctx.training() ? dy[e] - sum_dy[c] / m - xhat * sum_dy_xhat[c] / m : dy[e];
          dx[e] = static_cast<float>(gamma[c] * inv * d);
        }
    }
  }

 private:
  // Per channel: the batch's mean and biased variance (train; under sync, every process's batch), or the
  // running statistics (eval). Returns the values per channel the batch statistics cover.
  double statistics(const ExecContext& ctx, const float* x, std::vector<double>& mean, std::vector<double>& var) const {
    mean.assign(g_.c, 0.0), var.assign(g_.c, 0.0);
    if (!ctx.training()) {
      require_state();
      for (int64_t c = 0; c < g_.c; ++c) mean[c] = running_mean_[c], var[c] = running_var_[c];
      return static_cast<double>(g_.m());
    }
    const double m = static_cast<double>(g_.m());
    for (int64_t c = 0; c < g_.c; ++c) {
      for (int64_t i = 0; i < g_.n; ++i)
        for (int64_t s = 0; s < g_.hw; ++s) mean[c] += x[g_.at(i, c, s)];
      mean[c] /= m;
      for (int64_t i = 0; i < g_.n; ++i)
        for (int64_t s = 0; s < g_.hw; ++s) {
          const double d = x[g_.at(i, c, s)] - mean[c];
          var[c] += d * d;
        }
      var[c] /= m;
    }
    return merge_moments(ctx, mean, var);
  }
};

}  // namespace

OpPtr make_batchnorm(const Attrs& a) { return std::make_unique<BatchNorm>(a); }

}  // namespace sf::reference
