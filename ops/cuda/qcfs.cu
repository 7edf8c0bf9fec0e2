// qcfs on the GPU: element-wise forward and ∂x, and ∂λ as one deterministic reduction (core/cuda/reduce.cuh)
// written straight into the threshold's gradient, with no host wait. The math is ops/qcfs.h's Qcfs; this
// file is compiled without FMA contraction (CMakeLists.txt), so floor(x·L/λ + ½) rounds as on the CPU. λ is
// read on the device: a λ ≤ 0 is not refused here as on the CPU (that would cost a host wait per step), but
// it makes the output non-finite, which the trainer's divergence check reports naming this op.
#include "core/cuda/buffer.h"
#include "core/cuda/elementwise.cuh"
#include "core/cuda/reduce.cuh"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"
#include "ops/qcfs.h"

namespace sf::cuda {
namespace {

class QcfsKernel final : public QcfsOp {
 public:
  using QcfsOp::QcfsOp;
  const char* impl() const override { return "cuda"; }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float *x = in[0]->raw(), *lambda = in[1]->raw();
    float* y = out.raw();
    const Qcfs q = q_;
    launch_elementwise(
        out.numel(), stream_of(ctx), [=] __device__(int64_t i) { y[i] = q.forward(x[i], *lambda); }, "qcfs");
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    const float *x = in[0]->raw(), *lambda = in[1]->raw(), *g = gout.raw();
    const int64_t n = gout.numel();
    const Qcfs q = q_;
    if (gin[0]) {
      float* dx = gin[0]->raw();
      launch_elementwise(
          n, stream_of(ctx), [=] __device__(int64_t i) { dx[i] = Qcfs::passes(x[i] / *lambda) ? g[i] : 0.0f; },
          "qcfs backward");
    }
    if (!gin[1]) return;
    float* dlambda = gin[1]->raw();
    reduce_on_device(
        n, [=] __device__(int64_t i) { return double(g[i] * q.dlambda(x[i], *lambda)); },
        partial_.get<double>(kReduceBlocks), [=] __device__(double s) { *dlambda = static_cast<float>(s); },
        "qcfs threshold gradient", stream_of(ctx));
  }

 private:
  DeviceBuffer partial_;
};

}  // namespace

OpPtr make_qcfs(const Attrs& a) { return std::make_unique<QcfsKernel>(a); }

}  // namespace sf::cuda
