// log_quantize on the GPU: the quantiser element-wise (ops/log_quantize.h's LogQuantizer); backward is the
// CPU op's straight-through copy, which Tensor::copy_from does on the device.
#include "core/cuda/elementwise.cuh"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"
#include "ops/log_quantize.h"

namespace sf::cuda {
namespace {

class LogQuantizeKernel final : public LogQuantizeOp {
 public:
  using LogQuantizeOp::LogQuantizeOp;
  const char* impl() const override { return "cuda"; }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->raw();
    float* y = out.raw();
    const LogQuantizer q = q_;
    launch_elementwise(
        out.numel(), stream_of(ctx), [=] __device__(int64_t i) { y[i] = q(x[i]); }, "log_quantize");
  }
};

}  // namespace

OpPtr make_log_quantize(const Attrs& a) { return std::make_unique<LogQuantizeKernel>(a); }

}  // namespace sf::cuda
