// avgpool2d on cuDNN: average pooling that leaves the padding out of the count
// (CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING), as the reference does.
#include "ops/pool2d.h"

#include "ops/cuda/cudnn_desc.h"
#include "ops/cuda/kernels.h"

namespace sf::cuda {
namespace {

constexpr const char* kOp = "avgpool2d";

class AvgPool2dKernel final : public AvgPool2dOp {
 public:
  explicit AvgPool2dKernel(const Attrs& a) : AvgPool2dOp(a) {
    check_cudnn(cudnnCreatePoolingDescriptor(&pool_), kOp, "cudnnCreatePoolingDescriptor");
  }
  ~AvgPool2dKernel() override { (void)cudnnDestroyPoolingDescriptor(pool_); }
  const char* impl() const override { return "cudnn"; }

  Shape prepare(std::span<const Shape> in) override {
    const Shape out = AvgPool2dOp::prepare(in);
    x_.set(false, g_.n, g_.c, g_.h, g_.w);
    y_.set(false, g_.n, g_.c, g_.oh, g_.ow);
    check_cudnn(
        cudnnSetPooling2dDescriptor(pool_, CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING, CUDNN_NOT_PROPAGATE_NAN,
                                    int(g_.k), int(g_.k), int(g_.pad), int(g_.pad), int(g_.stride), int(g_.stride)),
        kOp, "cudnnSetPooling2dDescriptor");
    return out;
  }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float one = 1.0f, zero = 0.0f;
    check_cudnn(cudnnPoolingForward(cudnn(ctx), pool_, &one, x_.d, in[0]->raw(), &zero, y_.d, out.raw()), kOp,
                "cudnnPoolingForward");
  }

  // The API takes y and x as well, which average pooling does not read (the op declares that backward reads
  // neither, so the planner may have reused their buffers): the gradient buffers, of the same shapes, stand in,
  // dx for x too (an alias that would matter only if cuDNN read x).
  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float one = 1.0f, zero = 0.0f;
    check_cudnn(cudnnPoolingBackward(cudnn(ctx), pool_, &one, y_.d, gout.raw(), y_.d, gout.raw(), x_.d, gin[0]->raw(),
                                     &zero, x_.d, gin[0]->raw()),
                kOp, "cudnnPoolingBackward");
  }

 private:
  cudnnPoolingDescriptor_t pool_ = nullptr;
  TensorDesc x_{kOp}, y_{kOp};
};

}  // namespace

OpPtr make_avgpool2d(const Attrs& a) { return std::make_unique<AvgPool2dKernel>(a); }

}  // namespace sf::cuda
