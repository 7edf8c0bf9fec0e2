// batchnorm through oneDNN 2.6 batch_normalization (use_scale + use_shift: γ and β as two [C] tensors;
// use_global_stats for eval mode, whose backward then treats the statistics as constants — exactly the
// frozen batch norm's). The batch statistics of a train-mode forward are kept for its backward.
#include "ops/batchnorm.h"

#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/kernels.h"
#include "ops/shape_check.h"

namespace sf::onednn {
namespace {

using namespace dnnl;
using tag = memory::format_tag;

class BatchNorm final : public BatchNormOp {
 public:
  using BatchNormOp::BatchNormOp;
  const char* impl() const override { return "onednn"; }

  Shape prepare(std::span<const Shape> in) override {
    Shape out = BatchNormOp::prepare(in);
    expect(!fused_, "batchnorm", "the oneDNN kernel has no fused activation; use the loops or reference kernel");
    expect(!sync_, "batchnorm", "the oneDNN kernel computes its statistics alone (sync 1: use the loops or reference kernel)");
    const auto f32 = memory::data_type::f32;
    const memory::desc md = g_.rank2 ? memory::desc({g_.n, g_.c}, f32, tag::nc)
                                     : memory::desc({g_.n, g_.c, in[0][nhwc_ ? 1 : 2], in[0][nhwc_ ? 2 : 3]}, f32,
                                                    nhwc_ ? tag::nhwc : tag::nchw);
    const memory::desc cmd({g_.c}, f32, tag::a);
    const float eps = static_cast<float>(eps_);
    const auto affine = normalization_flags::use_scale | normalization_flags::use_shift;
    const auto frozen = affine | normalization_flags::use_global_stats;

    const primitive_attr attr = own_scratchpad();
    batch_normalization_forward::primitive_desc train_pd(
        batch_normalization_forward::desc(prop_kind::forward_training, md, eps, affine), attr, engine());
    batch_normalization_forward::primitive_desc eval_pd(
        batch_normalization_forward::desc(prop_kind::forward_training, md, eps, frozen), attr, engine());
    batch_normalization_backward::primitive_desc bwd_train_pd(
        batch_normalization_backward::desc(prop_kind::backward, md, md, eps, affine), attr, engine(), train_pd);
    batch_normalization_backward::primitive_desc bwd_eval_pd(
        batch_normalization_backward::desc(prop_kind::backward, md, md, eps, frozen), attr, engine(), eval_pd);
    fwd_train_ = batch_normalization_forward(train_pd);
    fwd_eval_ = batch_normalization_forward(eval_pd);
    bwd_train_ = batch_normalization_backward(bwd_train_pd);
    bwd_eval_ = batch_normalization_backward(bwd_eval_pd);

    src_ = unbound(md), dst_ = unbound(md), dsrc_ = unbound(md), ddst_ = unbound(md);
    scale_ = unbound(cmd), shift_ = unbound(cmd), dscale_ = unbound(cmd), dshift_ = unbound(cmd);
    mean_ = unbound(cmd), var_ = unbound(cmd);
    batch_mean_ = Tensor({g_.c}), batch_var_ = Tensor({g_.c});
    fwd_args_ = {{DNNL_ARG_SRC, src_},     {DNNL_ARG_DST, dst_},   {DNNL_ARG_SCALE, scale_},
                 {DNNL_ARG_SHIFT, shift_}, {DNNL_ARG_MEAN, mean_}, {DNNL_ARG_VARIANCE, var_}};
    // oneDNN 2.6's backward never reads β but refuses to execute (invalid_arguments) without it.
    bwd_args_ = {{DNNL_ARG_SRC, src_},       {DNNL_ARG_DIFF_DST, ddst_},     {DNNL_ARG_SCALE, scale_},
                 {DNNL_ARG_SHIFT, shift_},   {DNNL_ARG_MEAN, mean_},         {DNNL_ARG_VARIANCE, var_},
                 {DNNL_ARG_DIFF_SRC, dsrc_}, {DNNL_ARG_DIFF_SCALE, dscale_}, {DNNL_ARG_DIFF_SHIFT, dshift_}};
    // The train and eval primitives share the bindings; each gets its own map for its scratchpad.
    fwd_eval_args_ = fwd_args_, bwd_eval_args_ = bwd_args_;
    add_scratchpad(fwd_args_, train_pd.scratchpad_desc());
    add_scratchpad(fwd_eval_args_, eval_pd.scratchpad_desc());
    add_scratchpad(bwd_args_, bwd_train_pd.scratchpad_desc());
    add_scratchpad(bwd_eval_args_, bwd_eval_pd.scratchpad_desc());
    dx_scratch_ = Tensor(), dgamma_scratch_ = Tensor(), dbeta_scratch_ = Tensor();
    have_batch_stats_ = false;
    return out;
  }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    bind(src_, *in[0]), bind(dst_, out), bind(scale_, *in[1]), bind(shift_, *in[2]);
    if (ctx.training()) {
      // The batch statistics are outputs here, inputs of the matching backward.
      bind(mean_, batch_mean_), bind(var_, batch_var_);
      run(fwd_train_, fwd_args_);
      have_batch_stats_ = true;
      update_running(ctx, batch_mean_.data(), batch_var_.data(), static_cast<double>(g_.m()));
    } else {
      require_state();
      bind(mean_, running_mean_), bind(var_, running_var_);
      run(fwd_eval_, fwd_eval_args_);
    }
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0] && !gin[1] && !gin[2]) return;
    bind(src_, *in[0]), bind(ddst_, gout), bind(scale_, *in[1]), bind(shift_, *in[2]);
    // oneDNN writes all three gradients; unwanted ones go to scratch.
    bind(dsrc_, gin[0] ? *gin[0] : scratch(dx_scratch_, in[0]->shape()));
    bind(dscale_, gin[1] ? *gin[1] : scratch(dgamma_scratch_, {g_.c}));
    bind(dshift_, gin[2] ? *gin[2] : scratch(dbeta_scratch_, {g_.c}));
    if (ctx.training()) {
      expect(have_batch_stats_, "batchnorm", "train-mode backward before a train-mode forward");
      bind(mean_, batch_mean_), bind(var_, batch_var_);
      run(bwd_train_, bwd_args_);
    } else {
      require_state();
      bind(mean_, running_mean_), bind(var_, running_var_);
      run(bwd_eval_, bwd_eval_args_);
    }
  }

 private:
  static const Tensor& scratch(Tensor& t, const Shape& s) {
    if (!t.defined()) t = Tensor(s);
    return t;
  }

  batch_normalization_forward fwd_train_, fwd_eval_;
  batch_normalization_backward bwd_train_, bwd_eval_;
  memory src_, dst_, dsrc_, ddst_, scale_, shift_, dscale_, dshift_, mean_, var_;
  Args fwd_args_, bwd_args_;  // train mode
  Args fwd_eval_args_, bwd_eval_args_;
  Tensor batch_mean_, batch_var_;  // of the last train-mode forward
  Tensor dx_scratch_, dgamma_scratch_, dbeta_scratch_;
  bool have_batch_stats_ = false;
};

}  // namespace

OpPtr make_batchnorm(const Attrs& a) { return std::make_unique<BatchNorm>(a); }

}  // namespace sf::onednn
