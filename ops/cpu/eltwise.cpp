// ReLU, ReLU6 and Softplus through oneDNN eltwise. ReLU6 is clip_v2 with α = 0, β = 6, whose derivative is
// [α < x < β] (clip v1's is [α < x ≤ β], not ReLU6's); relu and clip_v2 backward read the output (the
// _use_dst_for_bwd forms), so the input may be overwritten by later in-place work; soft_relu backward needs the
// input.
#include "ops/activation.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/kernels.h"
#include "ops/shape_check.h"

namespace sf::onednn {
namespace {

using namespace dnnl;

class Eltwise final : public ActivationOp {
 public:
  using ActivationOp::ActivationOp;
  const char* impl() const override { return "onednn"; }
  bool backward_reads_input(int) const override { return !use_dst_; }
  bool backward_reads_output() const override { return use_dst_; }

  Shape prepare(std::span<const Shape> in) override {
    Shape out = ActivationOp::prepare(in);
    expect(act_.kind != ActKind::noisy_softplus, "noisy_softplus", "no oneDNN eltwise form in oneDNN 2.6");
    expect(act_.scale == 1.0f, type_.c_str(), "oneDNN 2.6 eltwise has no output scale; use the openmp kernel");
    use_dst_ = act_.kind != ActKind::softplus;
    const auto algo = act_.kind == ActKind::relu    ? algorithm::eltwise_relu_use_dst_for_bwd
                      : act_.kind == ActKind::relu6 ? algorithm::eltwise_clip_v2_use_dst_for_bwd
                                                    : algorithm::eltwise_soft_relu;
    const float alpha = 0.f, beta = act_.kind == ActKind::relu6 ? 6.f : 0.f;
    // A flat 1-D view: an element-wise map has no other shape, and any rank then works.
    const memory::desc md({numel(out)}, memory::data_type::f32, memory::format_tag::a);
    const primitive_attr attr = own_scratchpad();
    eltwise_forward::primitive_desc fwd_pd(eltwise_forward::desc(prop_kind::forward_training, algo, md, alpha, beta),
                                           attr, engine());
    eltwise_backward::primitive_desc bwd_pd(eltwise_backward::desc(algo, md, md, alpha, beta), attr, engine(), fwd_pd);
    fwd_ = eltwise_forward(fwd_pd);
    bwd_ = eltwise_backward(bwd_pd);
    src_ = unbound(md), dst_ = unbound(md), dsrc_ = unbound(md), ddst_ = unbound(md);
    fwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}};
    bwd_args_ = {{use_dst_ ? DNNL_ARG_DST : DNNL_ARG_SRC, use_dst_ ? dst_ : src_},
                 {DNNL_ARG_DIFF_DST, ddst_},
                 {DNNL_ARG_DIFF_SRC, dsrc_}};
    add_scratchpad(fwd_args_, fwd_pd.scratchpad_desc());
    add_scratchpad(bwd_args_, bwd_pd.scratchpad_desc());
    return out;
  }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    bind(src_, *in[0]), bind(dst_, out);
    run(fwd_, fwd_args_);
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor& out, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    if (use_dst_)
      bind(dst_, out);
    else
      bind(src_, *in[0]);
    bind(ddst_, gout), bind(dsrc_, *gin[0]);
    run(bwd_, bwd_args_);
  }

 private:
  bool use_dst_ = false;
  eltwise_forward fwd_;
  eltwise_backward bwd_;
  memory src_, dst_, dsrc_, ddst_;
  Args fwd_args_, bwd_args_;
};

}  // namespace

OpPtr make_eltwise(const std::string& type, const Attrs& a) { return std::make_unique<Eltwise>(type, a); }

const char* const kEltwiseCovers = "relu, relu6 and softplus with scale 1";

bool eltwise_supports(const std::string& type, const Attrs& a) {
  const Activation act = Activation::from(type, a);
  return act.kind != ActKind::noisy_softplus && act.scale == 1.0f;
}

}  // namespace sf::onednn
