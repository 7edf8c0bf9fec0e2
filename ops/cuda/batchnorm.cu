// batchnorm on the GPU, in either layout or on [N,C], with the fused ReLU/ReLU6 (ops/batchnorm.h). Own kernels,
// not cuDNN's: cuDNN's batch norm fuses ReLU but not ReLU6, and its reductions are not bit-reproducible run to
// run. Here every per-channel sum is taken in a fixed order (double partials over fixed chunks of the batch,
// then summed chunk by chunk), so a seed gives one result. The math is the reference kernel's, in double, except
// that the variance comes from one pass over values shifted by the channel's first one (the reference takes
// two passes), and backward reuses a train forward's statistics: two passes over x each way, as cuDNN's.
#include <algorithm>
#include <cmath>

#include "core/cuda/buffer.h"
#include "core/cuda/elementwise.cuh"
#include "core/error.h"
#include "core/primitive_math.h"
#include "ops/batchnorm.h"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"

namespace sf::cuda {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kTile = 32;           // channels per block when the channel is the fastest index
constexpr int64_t kRowsPerChunk = 1024;  // (image, position) rows per partial sum, at least
constexpr int64_t kMaxChunks = 65535;    // gridDim.y's limit: larger batches get longer chunks

// Element (row j = image·hw + position, channel ch) of x, in the op's layout.
struct Layout {
  int64_t c, hw;
  bool channels_last;
  __device__ int64_t at(int64_t j, int64_t ch) const {
    return channels_last ? j * c + ch : ((j / hw) * c + ch) * hw + j % hw;
  }
};

// partial[p·C + ch] = Σ over rows of chunk p of f(element, ch), for two quantities at once (a and b).
// Channels-last: a block covers kTile neighbouring channels (coalesced reads), kThreads / kTile rows at a time;
// channels-first: a block is one channel, kThreads neighbouring positions at a time. Thread t's rows are fixed
// and the block's sum is a fixed tree, so the result does not depend on scheduling.
template <class F>
__global__ void chunk_sums(Layout g, int64_t m, int64_t chunk_rows, F f, double* part_a, double* part_b) {
  __shared__ double sa[kThreads], sb[kThreads];
  const unsigned lanes = g.channels_last ? kTile : 1;  // channels per block
  const unsigned rows = kThreads / lanes;              // rows in flight per block
  const int64_t ch = int64_t(blockIdx.x) * lanes + threadIdx.x % lanes;
  const int64_t first = int64_t(blockIdx.y) * chunk_rows;
  const int64_t last = first + chunk_rows < m ? first + chunk_rows : m;
  double a = 0.0, b = 0.0;
  if (ch < g.c)
    for (int64_t j = first + threadIdx.x / lanes; j < last; j += rows) f(g.at(j, ch), ch, a, b);
  sa[threadIdx.x] = a, sb[threadIdx.x] = b;
  __syncthreads();
  for (unsigned w = kThreads / 2; w >= lanes; w >>= 1) {  // fold rows onto the first `lanes` threads
    if (threadIdx.x < w) sa[threadIdx.x] += sa[threadIdx.x + w], sb[threadIdx.x] += sb[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x < lanes && ch < g.c) {
    part_a[blockIdx.y * g.c + ch] = sa[threadIdx.x];
    part_b[blockIdx.y * g.c + ch] = sb[threadIdx.x];
  }
}

// dy where the fused activation let the gradient through (0 < z < hi at the output z), else 0; all of dy
// without one.
struct MaskedGrad {
  const float *z, *dy;
  bool fused;
  float hi;
  __device__ double operator()(int64_t e) const {
    return !fused || (z[e] > 0.0f && z[e] < hi) ? static_cast<double>(dy[e]) : 0.0;
  }
};

// After chunk_sums: finish(ch, Σa, Σb) per channel, the chunks' partials summed in chunk order.
template <class F>
__global__ void fold_chunks(const double* part_a, const double* part_b, int64_t chunks, int64_t c, F finish) {
  for (int64_t ch = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; ch < c; ch += int64_t(gridDim.x) * blockDim.x) {
    double a = 0.0, b = 0.0;
    for (int64_t p = 0; p < chunks; ++p) a += part_a[p * c + ch], b += part_b[p * c + ch];
    finish(ch, a, b);
  }
}

class BatchNormKernel final : public BatchNormOp {
 public:
  using BatchNormOp::BatchNormOp;
  const char* impl() const override { return "cuda"; }
  bool backward_reads_output() const override { return true; }  // the fused activation's mask

  Shape prepare(std::span<const Shape> in) override {
    stats_ = Stats::none;
    return BatchNormOp::prepare(in);
  }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    refuse_sync(ctx);
    lay_out_scratch();
    statistics(ctx, in[0]->raw());
    const float *x = in[0]->raw(), *gamma = in[1]->raw(), *beta = in[2]->raw();
    const double *mean = mean_, *var = var_;
    float* y = out.raw();
    const Layout g = layout();
    const double eps = eps_;
    const bool fused = fused_;
    const float hi = hi_;
    launch_elementwise(
        out.numel(), stream_of(ctx),
        [=] __device__(int64_t e) {
          const int64_t c = g.channels_last ? e % g.c : (e / g.hw) % g.c;
          const double inv = 1.0 / sqrt(var[c] + eps);
          const float v = static_cast<float>(gamma[c] * (x[e] - mean[c]) * inv + beta[c]);
          y[e] = fused ? clamp_value(v, 0.0f, hi) : v;
        },
        "batchnorm");
  }

  // The reference's backward: dβ = Σ dy, dγ = Σ dy·x̂ (dy masked where a fused activation clipped), and
  // dx = γ/sqrt(σ² + eps)·(dy − dβ/m − x̂·dγ/m) in train mode, γ/sqrt(σ² + eps)·dy in eval mode.
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor& out, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    refuse_sync(ctx);
    const float *x = in[0]->raw(), *gamma = in[1]->raw(), *z = out.raw(), *dy = gout.raw();
    lay_out_scratch();
    // The forward's batch statistics in train mode, when the last forward was one; else taken anew (eval: the
    // running statistics as they are now; train: the batch's, without moving the running ones again).
    if (!ctx.training() || stats_ != Stats::batch) statistics(ctx, x, false);
    const double *mean = mean_, *var = var_;
    const double eps = eps_;
    const MaskedGrad masked{z, dy, fused_, hi_};
    double *sum_dy = sum_a_, *sum_dy_xhat = sum_b_;
    float* dgamma = gin[1] ? gin[1]->raw() : nullptr;
    float* dbeta = gin[2] ? gin[2]->raw() : nullptr;
    channel_sums(
        ctx,
        [=] __device__(int64_t e, int64_t c, double& a, double& b) {
          const double d = masked(e);
          a += d;
          b += d * (x[e] - mean[c]) * (1.0 / sqrt(var[c] + eps));
        },
        [=] __device__(int64_t c, double a, double b) {
          sum_dy[c] = a, sum_dy_xhat[c] = b;
          if (dgamma) dgamma[c] = static_cast<float>(b);
          if (dbeta) dbeta[c] = static_cast<float>(a);
        });
    if (!gin[0]) return;
    float* dx = gin[0]->raw();
    const Layout g = layout();
    const double m = static_cast<double>(g_.m());
    const bool training = ctx.training();
    launch_elementwise(
        gin[0]->numel(), stream_of(ctx),
        [=] __device__(int64_t e) {
          const int64_t c = g.channels_last ? e % g.c : (e / g.hw) % g.c;
          const double inv = 1.0 / sqrt(var[c] + eps);
          const double xhat = (x[e] - mean[c]) * inv;
          const double d = masked(e);
          dx[e] = static_cast<float>(gamma[c] * inv * (training ? d - sum_dy[c] / m - xhat * sum_dy_xhat[c] / m : d));
        },
        "batchnorm backward");
  }

  // Public only because nvcc wants extended device lambdas' enclosing functions so.
  Layout layout() const { return {g_.c, g_.hw, g_.channels_last}; }

  // SyncBatchNorm gathers statistics across processes on the host; the GPU path has no such exchange yet.
  void refuse_sync(const ExecContext& ctx) const {
    if (synced(ctx))
      fail_input("batchnorm",
                 "sync: 1 (whole-batch statistics across processes) has no CUDA kernel yet; "
                 "use sync: 0 on device cuda");
  }

  int64_t chunk_rows() const {
    const int64_t m = g_.m();
    return std::max(kRowsPerChunk, (m + kMaxChunks - 1) / kMaxChunks);
  }
  int64_t chunks() const { return (g_.m() + chunk_rows() - 1) / chunk_rows(); }

  // The scratch for this shape: partial sums [2][chunks][C], then per channel Σa, Σb, mean and variance.
  void lay_out_scratch() {
    const int64_t c = g_.c, p = chunks();
    part_a_ = scratch_.get<double>(static_cast<size_t>(2 * p * c + 4 * c));
    part_b_ = part_a_ + p * c;
    sum_a_ = part_b_ + p * c, sum_b_ = sum_a_ + c;
    mean_ = sum_b_ + c, var_ = mean_ + c;
  }

  // finish(c, Σa, Σb) for every channel, the sums of f's two quantities over the channel's m values (fixed
  // order): two launches.
  template <class F, class Finish>
  void channel_sums(const ExecContext& ctx, F f, Finish finish) {
    const int64_t c = g_.c, m = g_.m(), chunks = this->chunks();
    double *part_a = part_a_, *part_b = part_b_;
    const unsigned lanes = g_.channels_last ? kTile : 1;
    const dim3 grid(static_cast<unsigned>((c + lanes - 1) / lanes), static_cast<unsigned>(chunks));
    chunk_sums<<<grid, kThreads, 0, stream_of(ctx)>>>(layout(), m, chunk_rows(), f, part_a, part_b);
    check_launch("batchnorm");
    fold_chunks<<<grid_for(c, kThreads), kThreads, 0, stream_of(ctx)>>>(part_a, part_b, chunks, c, finish);
    check_launch("batchnorm");
  }

  // mean_, var_: the batch's mean and biased variance in train mode, where the running statistics then move
  // towards them if the context asks (running = momentum·running + (1 − momentum)·batch, the variance unbiased
  // by m/(m − 1), none for m = 1); the running statistics in eval mode.
  void statistics(const ExecContext& ctx, const float* x, bool may_update = true) {
    double *mean = mean_, *var = var_;
    stats_ = ctx.training() ? Stats::batch : Stats::running;
    if (!ctx.training()) {
      require_state();
      const float *rm = running_mean_.raw(), *rv = running_var_.raw();
      launch_elementwise(
          g_.c, stream_of(ctx), [=] __device__(int64_t c) { mean[c] = rm[c], var[c] = rv[c]; }, "batchnorm");
      return;
    }
    const double m = static_cast<double>(g_.m()), mom = momentum_, unbias = m > 1 ? m / (m - 1) : 1.0;
    const bool update = may_update && ctx.update_state && running_mean_.defined();
    float* rm = update ? running_mean_.raw() : nullptr;
    float* rv = update ? running_var_.raw() : nullptr;
    // Σ(x − K), Σ(x − K)² with K the channel's first value: shifted, the one-pass variance keeps its digits
    // for a channel whose mean is far larger than its spread (the CPU loops kernel shifts the same way).
    const Layout g = layout();
    channel_sums(
        ctx,
        [=] __device__(int64_t e, int64_t c, double& a, double& b) {
          const double v = static_cast<double>(x[e]) - x[g.at(0, c)];
          a += v, b += v * v;
        },
        [=] __device__(int64_t c, double a, double b) {
          const double shift = x[g.at(0, c)], d = a / m;
          mean[c] = shift + d;
          var[c] = fmax(b / m - d * d, 0.0);
          if (!rm) return;
          rm[c] = static_cast<float>(mom * rm[c] + (1.0 - mom) * mean[c]);
          rv[c] = static_cast<float>(mom * rv[c] + (1.0 - mom) * var[c] * unbias);
        });
  }

 private:
  DeviceBuffer scratch_;
  double *part_a_ = nullptr, *part_b_ = nullptr, *sum_a_ = nullptr, *sum_b_ = nullptr, *mean_ = nullptr,
         *var_ = nullptr;
  enum class Stats { none, batch, running };
  Stats stats_ = Stats::none;  // what mean_ and var_ hold: nothing yet, a train forward's batch, running ones
};

}  // namespace

OpPtr make_batchnorm(const Attrs& a) { return std::make_unique<BatchNormKernel>(a); }

}  // namespace sf::cuda
