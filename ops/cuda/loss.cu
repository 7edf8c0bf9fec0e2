// The losses on the GPU: one thread per sample runs the reference's per-sample math (ops/loss_math.h), then
// one block sums the samples in a fixed order, so the loss is deterministic and is written on the device
// (where the trainer adds it to the step totals without a host wait). Backward reads the output gradient on
// the device too.
#include "core/cuda/buffer.h"
#include "core/cuda/elementwise.cuh"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"
#include "ops/loss.h"
#include "ops/loss_math.h"

namespace sf::cuda {
namespace {

constexpr unsigned kSumThreads = 256;

// out[0] = Σ per_sample / denominator: thread t sums samples t, t + 256, ...; then a fixed tree.
__global__ void mean_of_samples(const double* per_sample, int64_t n, double denominator, float* out) {
  __shared__ double lane[kSumThreads];
  double acc = 0.0;
  for (int64_t s = threadIdx.x; s < n; s += kSumThreads) acc += per_sample[s];
  lane[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned w = kSumThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) lane[threadIdx.x] += lane[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = static_cast<float>(lane[0] / denominator);
}

class LossKernel final : public LossOp {
 public:
  explicit LossKernel(const std::string& type) : LossOp(type), softmax_(type == "softmax_cross_entropy") {}
  const char* impl() const override { return "cuda"; }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float *y = in[0]->raw(), *t = in[1]->raw();
    const int64_t k = k_;
    const bool softmax = softmax_;
    double* per_sample = per_sample_.get<double>(n_);
    launch_elementwise(
        n_, stream_of(ctx),
        [=] __device__(int64_t s) {
          per_sample[s] = softmax ? cross_entropy(y + s * k, t + s * k, k) : squared_error(y + s * k, t + s * k, k);
        },
        type());
    mean_of_samples<<<1, kSumThreads, 0, stream_of(ctx)>>>(per_sample, n_, denominator(), out.raw());
    check_launch(type());
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float *y = in[0]->raw(), *t = in[1]->raw(), *g = gout.raw();
    float* dy = gin[0]->raw();
    const int64_t k = k_;
    const bool softmax = softmax_;
    const float denom = static_cast<float>(denominator());
    launch_elementwise(
        n_, stream_of(ctx),
        [=] __device__(int64_t s) { loss_gradient(softmax, y + s * k, t + s * k, k, g[0] / denom, dy + s * k); },
        type());
  }

 private:
  // Cross entropy is a mean over samples, the squared error over samples and classes (Keras).
  double denominator() const { return softmax_ ? double(n_) : double(n_ * k_); }

  bool softmax_;
  DeviceBuffer per_sample_;
};

}  // namespace

OpPtr make_loss(const std::string& type) { return std::make_unique<LossKernel>(type); }

}  // namespace sf::cuda
