#include "ops/pool2d.h"

#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/kernels.h"

namespace sf::onednn {
namespace {

using namespace dnnl;

class AvgPool2d final : public AvgPool2dOp {
 public:
  using AvgPool2dOp::AvgPool2dOp;
  const char* impl() const override { return "onednn"; }

  Shape prepare(std::span<const Shape> in) override {
    Shape out = AvgPool2dOp::prepare(in);
    const memory::dims strides{g_.stride, g_.stride}, kernel{g_.k, g_.k}, pad{g_.pad, g_.pad};
    // oneDNN requires the right padding to cover the last window exactly; compute it as oneDNN does.
    const memory::dims pad_r{(g_.oh - 1) * g_.stride + g_.k - g_.h - g_.pad,
                             (g_.ow - 1) * g_.stride + g_.k - g_.w - g_.pad};
    const auto src = plain(in[0]), dst = plain(out);
    const auto algo = algorithm::pooling_avg_exclude_padding;
    const primitive_attr attr = own_scratchpad();
    pooling_forward::primitive_desc fwd_pd(
        pooling_forward::desc(prop_kind::forward_training, algo, src, dst, strides, kernel, pad, pad_r), attr,
        engine());
    pooling_backward::primitive_desc bwd_pd(pooling_backward::desc(algo, src, dst, strides, kernel, pad, pad_r), attr,
                                            engine(), fwd_pd);
    fwd_ = pooling_forward(fwd_pd);
    bwd_ = pooling_backward(bwd_pd);
    src_ = unbound(src), dst_ = unbound(dst), dsrc_ = unbound(src), ddst_ = unbound(dst);
    fwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}};
    bwd_args_ = {{DNNL_ARG_DIFF_SRC, dsrc_}, {DNNL_ARG_DIFF_DST, ddst_}};
    add_scratchpad(fwd_args_, fwd_pd.scratchpad_desc());
    add_scratchpad(bwd_args_, bwd_pd.scratchpad_desc());
    return out;
  }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    bind(src_, *in[0]), bind(dst_, out);
    run(fwd_, fwd_args_);
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    bind(dsrc_, *gin[0]), bind(ddst_, gout);
    run(bwd_, bwd_args_);
  }

 private:
  pooling_forward fwd_;
  pooling_backward bwd_;
  memory src_, dst_, dsrc_, ddst_;
  Args fwd_args_, bwd_args_;
};

}  // namespace

OpPtr make_avgpool2d(const Attrs& a) { return std::make_unique<AvgPool2d>(a); }

}  // namespace sf::onednn
