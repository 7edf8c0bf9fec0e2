// global_avgpool on the GPU: one thread per (sample, channel) sums its map in index order (deterministic, as the
// reference), in either layout; backward spreads dy / (H·W) over the map. Own kernels: a one-axis mean needs no
// library, and cuDNN's pooling would want a window descriptor per shape for the same single pass.
#include "core/cuda/elementwise.cuh"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"
#include "ops/global_avgpool.h"

namespace sf::cuda {
namespace {

class GlobalAvgPoolKernel final : public GlobalAvgPoolOp {
 public:
  using GlobalAvgPoolOp::GlobalAvgPoolOp;
  const char* impl() const override { return "cuda"; }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->raw();
    float* y = out.raw();
    const int64_t c = g_.c, hw = g_.hw();
    const bool nhwc = g_.nhwc;
    launch_elementwise(
        g_.n * c, stream_of(ctx),
        [=] __device__(int64_t nc) {
          const int64_t n = nc / c, ch = nc % c;
          // nchw: the map is contiguous; nhwc: channel ch of every pixel, c apart.
          const float* base = nhwc ? x + n * hw * c + ch : x + nc * hw;
          const int64_t step = nhwc ? c : 1;
          double acc = 0.0;
          for (int64_t p = 0; p < hw; ++p) acc += base[p * step];
          y[nc] = static_cast<float>(acc / static_cast<double>(hw));
        },
        "global_avgpool");
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float* dy = gout.raw();
    float* dx = gin[0]->raw();
    const int64_t c = g_.c, hw = g_.hw();
    const bool nhwc = g_.nhwc;
    launch_elementwise(
        g_.n * c * hw, stream_of(ctx),
        [=] __device__(int64_t i) {
          const int64_t nc = nhwc ? (i / (hw * c)) * c + i % c : i / hw;
          dx[i] = static_cast<float>(dy[nc] / static_cast<double>(hw));
        },
        "global_avgpool backward");
  }
};

}  // namespace

OpPtr make_global_avgpool(const Attrs& a) { return std::make_unique<GlobalAvgPoolKernel>(a); }

}  // namespace sf::cuda
