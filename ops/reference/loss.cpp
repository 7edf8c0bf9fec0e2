// Loss loops: the reference (serial) and the CPU kernel (OpenMP over the batch) share this code; oneDNN
// has no loss primitives. Per-sample partial sums are reduced in a fixed order, so the result does not
// depend on the thread count.
#include "ops/loss.h"

#include <vector>

#include "core/parallel.h"
#include "ops/loss_math.h"
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
        per_sample_[s] = softmax_ ? cross_entropy(y + s * k, t + s * k, k) : squared_error(y + s * k, t + s * k, k);
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
    const bool softmax = softmax_;
    parallel_for(n, parallel_ ? kGrain : n + 1, [&](int64_t lo, int64_t hi, int) {
      for (int64_t s = lo; s < hi; ++s) loss_gradient(softmax, y + s * k, t + s * k, k, scale, dy + s * k);
    });
  }

 private:
  bool softmax_, parallel_;
  std::vector<double> per_sample_;
};

}  // namespace

OpPtr make_loss(const std::string& type, bool parallel) { return std::make_unique<LossLoop>(type, parallel); }

}  // namespace sf::reference
