// conv2d on cuDNN (grouped and depthwise included, both layouts). Descriptors and algorithms are chosen once per
// shape (forward in prepare(), backward at the first backward(), each reading deterministic_kernels() then);
// every call then only runs them, with the workspace from the execution context.
//
// Algorithms come from cuDNN's heuristics (the _v7 queries: ranked, no trial runs, so prepare() needs no
// tensors): the first one ranked, as PyTorch's default, or under `deterministic: true` (core/device.h) the first
// deterministic one, so the same seed gives the same run on the same GPU. The
// weights stay [O, C/G, KH, KW] in either layout; beside NHWC activations cuDNN is given an NHWC-ordered filter
// (ops/cuda/filter_layout.h: a copy of the weight, its gradient copied back, except for depthwise and 1×1
// convolutions, where the orders coincide).
#include "ops/conv2d.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/cuda/buffer.h"
#include "core/device.h"
#include "ops/cuda/cudnn_desc.h"
#include "ops/cuda/filter_layout.h"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"

namespace sf::cuda {
namespace {

constexpr const char* kOp = "conv2d";

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  FilterDesc() { check_cudnn(cudnnCreateFilterDescriptor(&d), kOp, "cudnnCreateFilterDescriptor"); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  ~FilterDesc() { (void)cudnnDestroyFilterDescriptor(d); }
};
struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc() { check_cudnn(cudnnCreateConvolutionDescriptor(&d), kOp, "cudnnCreateConvolutionDescriptor"); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  ~ConvDesc() { (void)cudnnDestroyConvolutionDescriptor(d); }
};

// The best-ranked algorithm that cuDNN can run; only a deterministic one under deterministic_kernels().
template <class Perf>
Perf first_usable(const std::vector<Perf>& ranked, int count, const char* what) {
  const bool deterministic = deterministic_kernels();
  for (int i = 0; i < count; ++i)
    if (ranked[i].status == CUDNN_STATUS_SUCCESS && (!deterministic || ranked[i].determinism == CUDNN_DETERMINISTIC))
      return ranked[i];
  fail_input(kOp, std::string("cuDNN offers no ") + (deterministic ? "deterministic " : "") + what +
                      " algorithm for these shapes" + (deterministic ? " (deterministic: true asks for one)" : ""));
}

class Conv2dKernel final : public Conv2dOp {
 public:
  using Conv2dOp::Conv2dOp;
  const char* impl() const override { return "cudnn"; }

  Shape prepare(std::span<const Shape> in) override {
    const Shape out = Conv2dOp::prepare(in);
    const ExecContext ctx;  // the handle only: the stream is set again at each call
    cudnnHandle_t h = cudnn(ctx);
    x_.set(g_.nhwc, g_.n, g_.c, g_.h, g_.w);
    y_.set(g_.nhwc, g_.n, g_.o, g_.oh, g_.ow);
    b_.set(g_.nhwc, 1, g_.o, 1, 1);
    check_cudnn(cudnnSetFilter4dDescriptor(w_.d, CUDNN_DATA_FLOAT, g_.nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                           int(g_.o), int(g_.cg()), int(g_.kh), int(g_.kw)),
                kOp, "cudnnSetFilter4dDescriptor");
    reorder_filter_ = g_.nhwc && !filter_orders_coincide(g_.cg(), g_.kh, g_.kw);
    check_cudnn(cudnnSetConvolution2dDescriptor(conv_.d, int(g_.pad), int(g_.pad), int(g_.stride), int(g_.stride), 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                kOp, "cudnnSetConvolution2dDescriptor");
    check_cudnn(cudnnSetConvolutionGroupCount(conv_.d, int(g_.groups)), kOp, "cudnnSetConvolutionGroupCount");
    // Plain fp32 (no TF32): the kernel is checked against the reference at the CPU kernels' tolerance.
    check_cudnn(cudnnSetConvolutionMathType(conv_.d, CUDNN_FMA_MATH), kOp, "cudnnSetConvolutionMathType");

    int count = 0;
    std::vector<cudnnConvolutionFwdAlgoPerf_t> fwd(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    check_cudnn(
        cudnnGetConvolutionForwardAlgorithm_v7(h, x_.d, w_.d, conv_.d, y_.d, int(fwd.size()), &count, fwd.data()), kOp,
        "cudnnGetConvolutionForwardAlgorithm_v7");
    fwd_ = first_usable(fwd, count, "forward").algo;
    check_cudnn(cudnnGetConvolutionForwardWorkspaceSize(h, x_.d, w_.d, conv_.d, y_.d, fwd_, &fwd_bytes_), kOp,
                "cudnnGetConvolutionForwardWorkspaceSize");
    backward_ready_ = false;  // chosen at the first backward(): an inference graph never needs them
    return out;
  }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    cudnnHandle_t h = cudnn(ctx);
    const float one = 1.0f, zero = 0.0f;
    check_cudnn(cudnnConvolutionForward(h, &one, x_.d, in[0]->raw(), w_.d, filter(ctx, *in[1]), conv_.d, fwd_,
                                        workspace(ctx, fwd_bytes_), fwd_bytes_, &zero, y_.d, out.raw()),
                kOp, "cudnnConvolutionForward");
    if (g_.bias)
      check_cudnn(cudnnAddTensor(h, &one, b_.d, in[2]->raw(), &one, y_.d, out.raw()), kOp, "cudnnAddTensor (bias)");
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    cudnnHandle_t h = cudnn(ctx);
    if (!backward_ready_) prepare_backward(h);
    const float one = 1.0f, zero = 0.0f;
    if (gin[0])
      check_cudnn(cudnnConvolutionBackwardData(h, &one, w_.d, filter(ctx, *in[1]), y_.d, gout.raw(), conv_.d, bwd_data_,
                                               workspace(ctx, bwd_bytes_), bwd_bytes_, &zero, x_.d, gin[0]->raw()),
                  kOp, "cudnnConvolutionBackwardData");
    if (gin[1]) {
      float* dw = reorder_filter_ ? reordered_.get<float>(static_cast<size_t>(gin[1]->numel())) : gin[1]->raw();
      check_cudnn(cudnnConvolutionBackwardFilter(h, &one, x_.d, in[0]->raw(), y_.d, gout.raw(), conv_.d, bwd_filter_,
                                                 workspace(ctx, bwd_bytes_), bwd_bytes_, &zero, w_.d, dw),
                  kOp, "cudnnConvolutionBackwardFilter");
      if (reorder_filter_) ohwi_to_oihw(dw, gin[1]->raw(), g_.o, g_.cg(), g_.kh * g_.kw, stream_of(ctx));
    }
    if (g_.bias && gin[2])
      check_cudnn(cudnnConvolutionBackwardBias(h, &one, y_.d, gout.raw(), &zero, b_.d, gin[2]->raw()), kOp,
                  "cudnnConvolutionBackwardBias");
  }

 private:
  // The weight as cuDNN's filter descriptor orders it: itself, or its NHWC-ordered copy.
  const float* filter(const ExecContext& ctx, const Tensor& w) {
    if (!reorder_filter_) return w.raw();
    float* copy = reordered_.get<float>(static_cast<size_t>(w.numel()));
    oihw_to_ohwi(w.raw(), copy, g_.o, g_.cg(), g_.kh * g_.kw, stream_of(ctx));
    return copy;
  }

  void prepare_backward(cudnnHandle_t h) {
    int count = 0;
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> data(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
    check_cudnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w_.d, y_.d, conv_.d, x_.d, int(data.size()), &count,
                                                            data.data()),
                kOp, "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    bwd_data_ = first_usable(data, count, "backward-data").algo;
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> filter(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
    check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x_.d, y_.d, conv_.d, w_.d, int(filter.size()), &count,
                                                              filter.data()),
                kOp, "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    bwd_filter_ = first_usable(filter, count, "backward-filter").algo;
    size_t a = 0, b = 0;
    check_cudnn(cudnnGetConvolutionBackwardDataWorkspaceSize(h, w_.d, y_.d, conv_.d, x_.d, bwd_data_, &a), kOp,
                "cudnnGetConvolutionBackwardDataWorkspaceSize");
    check_cudnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x_.d, y_.d, conv_.d, w_.d, bwd_filter_, &b), kOp,
                "cudnnGetConvolutionBackwardFilterWorkspaceSize");
    bwd_bytes_ = std::max(a, b);
    backward_ready_ = true;
  }

  // `bytes` of the graph's shared workspace when the context has one (ops run one after another), else of the
  // op's own.
  void* workspace(const ExecContext& ctx, size_t bytes) {
    if (bytes == 0) return nullptr;
    const int64_t floats = static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float));
    if (ctx.workspace) return ctx.workspace->get(floats);
    return own_workspace_.get<float>(static_cast<size_t>(floats));
  }

  TensorDesc x_{kOp}, y_{kOp}, b_{kOp};
  FilterDesc w_;
  ConvDesc conv_;
  cudnnConvolutionFwdAlgo_t fwd_{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_{};
  size_t fwd_bytes_ = 0, bwd_bytes_ = 0;
  bool backward_ready_ = false;
  bool reorder_filter_ = false;  // NHWC activations and a weight whose NHWC order differs from ours
  DeviceBuffer own_workspace_;
  DeviceBuffer reordered_;  // the weight, or its gradient, in NHWC filter order
};

}  // namespace

OpPtr make_conv2d(const Attrs& a) { return std::make_unique<Conv2dKernel>(a); }

}  // namespace sf::cuda
