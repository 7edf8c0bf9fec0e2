// Loss loops: the reference (serial) and the CPU kernel (OpenMP over the batch) share this code; oneDNN
// has no loss primitives. Per-sample partial sums are reduced in a fixed order, so the result does not
// depend on the thread count.
#include "ops/loss.h"

#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "ops/reference/kernels.h"

namespace sf::reference {
namespace {

constexpr int64_t kGrain = 64;  // samples below which one thread is faster

class LossLoop final : public LossOp {
 public:
  LossLoop(const std::string& type, bool parallel)
      : LossOp(type), softmax_(type == "softmax_cross_entropy"), parallel_(parallel) {}
  const char* impl() const override { return parallel_ ? "openmp" : "reference"; }

  Shape prepare(std::span<const Shape> in) override {
    Shape s = LossOp::prepare(in);
    per_sample_.assign(n_, 0.0);
    return s;
  }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float *y = in[0]->data(), *t = in[1]->data();
    const int64_t n = n_, k = k_;
    parallel_for(n, parallel_ ? kGrain : n + 1, [&](int64_t lo, int64_t hi, int) {
      for (int64_t s = lo; s < hi; ++s)
        per_sample_[s] = softmax_ ? cross_entropy(y + s * k, t + s * k) : squared(y + s * k, t + s * k);
    });
    double total = 0.0;
    for (double v : per_sample_) total += v;
    out[0] = static_cast<float>(softmax_ ? total / n : total / (n * k));
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float *y = in[0]->data(), *t = in[1]->data();
    float* dy = gin[0]->data();
    const float scale = gout[0] / static_cast<float>(softmax_ ? n_ : n_ * k_);
    const int64_t n = n_, k = k_;
    parallel_for(n, parallel_ ? kGrain : n + 1, [&](int64_t lo, int64_t hi, int) {
      for (int64_t s = lo; s < hi; ++s) {
        const float *ys = y + s * k, *ts = t + s * k;
        float* d = dy + s * k;
        if (softmax_) {
          // dL/dy = softmax(y)·Σt − t (= softmax(y) − t for one-hot or normalised targets)
          softmax(ys, d);
          float tsum = 0.0f;
          for (int64_t j = 0; j < k; ++j) tsum += ts[j];
          for (int64_t j = 0; j < k; ++j) d[j] = (d[j] * tsum - ts[j]) * scale;
        } else {
          // dL/dy = 2 (y − t)
          for (int64_t j = 0; j < k; ++j) d[j] = 2.0f * (ys[j] - ts[j]) * scale;
        }
      }
    });
  }

 private:
  double squared(const float* y, const float* t) const {
    double acc = 0.0;
    for (int64_t j = 0; j < k_; ++j) acc += double(y[j] - t[j]) * (y[j] - t[j]);
    return acc;
  }
  // −Σ t log softmax(y), with log softmax = y − max − log Σ exp(y − max) for stability.
  double cross_entropy(const float* y, const float* t) const {
    float m = y[0];
    for (int64_t j = 1; j < k_; ++j) m = std::max(m, y[j]);
    double z = 0.0;
    for (int64_t j = 0; j < k_; ++j) z += std::exp(double(y[j] - m));
    const double log_z = std::log(z) + m;
    double acc = 0.0;
    for (int64_t j = 0; j < k_; ++j) acc -= t[j] * (y[j] - log_z);
    return acc;
  }
  void softmax(const float* y, float* p) const {
    float m = y[0];
    for (int64_t j = 1; j < k_; ++j) m = std::max(m, y[j]);
    float z = 0.0f;
    for (int64_t j = 0; j < k_; ++j) z += (p[j] = std::exp(y[j] - m));
    for (int64_t j = 0; j < k_; ++j) p[j] /= z;
  }

  bool softmax_, parallel_;
  std::vector<double> per_sample_;
};

}  // namespace

OpPtr make_loss(const std::string& type, bool parallel) { return std::make_unique<LossLoop>(type, parallel); }

}  // namespace sf::reference
