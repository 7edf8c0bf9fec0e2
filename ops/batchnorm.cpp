#include "ops/batchnorm.h"

#include <limits>
#include <string>

#include "ops/shape_check.h"

namespace sf {

BatchNormOp::BatchNormOp(const Attrs& a) {
  momentum_ = kBatchNormSchema.get_float(a, "momentum");
  eps_ = kBatchNormSchema.get_float(a, "eps");
  nhwc_ = kBatchNormSchema.get_string(a, "layout") == "nhwc";
  sync_ = kBatchNormSchema.get_int(a, "sync") != 0;
  const std::string act = kBatchNormSchema.get_string(a, "activation");
  fused_ = act != "none";
  hi_ = act == "relu6" ? 6.0f : std::numeric_limits<float>::infinity();
  expect(momentum_ >= 0 && momentum_ <= 1, "batchnorm",
         "attribute 'momentum' must be in [0, 1], got " + attr_to_string(momentum_));
  expect(eps_ > 0, "batchnorm", "attribute 'eps' must be > 0, got " + attr_to_string(eps_));
}

Shape BatchNormOp::prepare(std::span<const Shape> in) {
  expect_inputs("batchnorm", in, 3, 3);
  const Shape& x = in[0];
  expect(x.size() == 2 || x.size() == 4, "batchnorm", "input must be [N,C] or rank 4, got " + to_string(x));
  g_ = {};
  g_.n = x[0];
  g_.rank2 = x.size() == 2;
  g_.channels_last = g_.rank2 || nhwc_;
  if (g_.rank2)
    g_.c = x[1];
  else if (nhwc_)
    g_.c = x[3], g_.hw = x[1] * x[2];
  else
    g_.c = x[1], g_.hw = x[2] * x[3];
  const Shape per_channel{g_.c};
  expect(in[1] == per_channel && in[2] == per_channel, "batchnorm",
         "gamma and beta must be [" + std::to_string(g_.c) + "] for input " + to_string(x) + " (" +
             (g_.rank2 ? "[N,C]"
              : nhwc_  ? "nhwc"
                       : "nchw") +
             "), got " + to_string(in[1]) + " and " + to_string(in[2]));
  if (running_mean_.defined())
    expect(running_mean_.shape() == per_channel && running_var_.shape() == per_channel, "batchnorm",
           "running_mean and running_var must be [" + std::to_string(g_.c) + "], got " +
               to_string(running_mean_.shape()) + " and " + to_string(running_var_.shape()));
  return x;
}

void BatchNormOp::bind_state(std::span<const Tensor> state) {
  expect(state.size() == 2, "batchnorm",
         "takes two state buffers (running_mean, running_var), got " + std::to_string(state.size()));
  expect(state[0].defined() && state[1].defined(), "batchnorm", "running_mean and running_var must be allocated");
  running_mean_ = state[0], running_var_ = state[1];
}

void BatchNormOp::require_state() const {
  expect(running_mean_.defined(), "batchnorm",
         "eval mode needs the running statistics: no state bound (bind_state: running_mean, running_var)");
}

void BatchNormOp::update_running(const ExecContext& ctx, const float* mean, const float* var, double m) {
  if (!ctx.update_state || !running_mean_.defined()) return;
  // m = 1 has no unbiased estimate; TF's fused batch norm then keeps the biased one (0), as here.
  const double unbias = m > 1 ? m / (m - 1) : 1.0;
  float *rm = running_mean_.data(), *rv = running_var_.data();
  for (int64_t c = 0; c < g_.c; ++c) {
    rm[c] = static_cast<float>(momentum_ * rm[c] + (1.0 - momentum_) * mean[c]);
    rv[c] = static_cast<float>(momentum_ * rv[c] + (1.0 - momentum_) * var[c] * unbias);
  }
}

std::vector<double> BatchNormOp::gather_rows(const ExecContext& ctx, const std::vector<double>& a,
                                             const std::vector<double>& b) const {
  std::vector<double> mine{static_cast<double>(g_.m())};
  mine.insert(mine.end(), a.begin(), a.end());
  mine.insert(mine.end(), b.begin(), b.end());
  std::vector<double> all = ctx.sync_stats->gather(mine);
  if (all.size() % mine.size() != 0) fail_internal("batchnorm: the shards gathered rows of different sizes");
  return all;
}

double BatchNormOp::merge_moments(const ExecContext& ctx, std::vector<double>& mean, std::vector<double>& var) const {
  if (!synced(ctx)) return static_cast<double>(g_.m());
  const size_t c = mean.size(), row = 1 + 2 * c;
  const std::vector<double> all = gather_rows(ctx, mean, var);
  // Merged one shard at a time: n = n_a + n_b, mean = mean_a + (mean_b − mean_a)·n_b/n,
  // M2 = M2_a + M2_b + (mean_b − mean_a)²·n_a·n_b/n, with M2 = var·n.
  double n = 0;
  std::vector<double> mu(c, 0.0), m2(c, 0.0);
  for (size_t r = 0; r < all.size() / row; ++r) {
    const double* at = all.data() + r * row;
    const double nb = at[0], total = n + nb;
    if (nb == 0) continue;
    for (size_t k = 0; k < c; ++k) {
      const double delta = at[1 + k] - mu[k];
      mu[k] += delta * nb / total;
      m2[k] += at[1 + c + k] * nb + delta * delta * n * nb / total;
    }
    n = total;
  }
  for (size_t k = 0; k < c; ++k) mean[k] = mu[k], var[k] = m2[k] / n;
  return n;
}

void BatchNormOp::whole_batch_sums(const ExecContext& ctx, std::vector<double>& a, std::vector<double>& b) const {
  if (!synced(ctx)) return;
  const size_t c = a.size(), row = 1 + 2 * c;
  const std::vector<double> all = gather_rows(ctx, a, b);
  const double m = static_cast<double>(g_.m());
  std::fill(a.begin(), a.end(), 0.0), std::fill(b.begin(), b.end(), 0.0);
  for (size_t r = 0; r < all.size() / row; ++r) {
    const double* at = all.data() + r * row;
    const double share = at[0] / m;
    for (size_t k = 0; k < c; ++k) a[k] += share * at[1 + k], b[k] += share * at[1 + c + k];
  }
}

}  // namespace sf
