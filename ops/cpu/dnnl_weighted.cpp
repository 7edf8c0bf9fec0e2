#include "ops/cpu/dnnl_weighted.h"

namespace sf::onednn {

void WeightedPrimitives::bind_descs(const dnnl::memory::desc& src, const dnnl::memory::desc& wei,
                                    const dnnl::memory::desc& bia, const dnnl::memory::desc& dst, bool has_bias) {
  bias_ = has_bias;
  src_ = unbound(src), wei_ = unbound(wei), dst_ = unbound(dst);
  dsrc_ = unbound(src), dwei_ = unbound(wei), ddst_ = unbound(dst);
  fwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_DST, dst_}};
  bwd_data_args_ = {{DNNL_ARG_DIFF_SRC, dsrc_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_DIFF_DST, ddst_}};
  bwd_w_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DIFF_WEIGHTS, dwei_}, {DNNL_ARG_DIFF_DST, ddst_}};
  if (bias_) {
    bia_ = unbound(bia), dbia_ = unbound(bia);
    fwd_args_[DNNL_ARG_BIAS] = bia_;
    bwd_w_args_[DNNL_ARG_DIFF_BIAS] = dbia_;
  }
}

void WeightedPrimitives::forward(std::span<const Tensor* const> in, Tensor& out) {
  bind(src_, *in[0]), bind(wei_, *in[1]), bind(dst_, out);
  if (bias_) bind(bia_, *in[2]);
  run(fwd, fwd_args_);
}

void WeightedPrimitives::backward(std::span<const Tensor* const> in, const Tensor& gout, std::span<Tensor* const> gin) {
  bind(ddst_, gout);
  if (gin[0]) {
    bind(dsrc_, *gin[0]), bind(wei_, *in[1]);
    run(bwd_data, bwd_data_args_);
  }
  const bool want_bias = bias_ && gin[2];
  if (!gin[1] && !want_bias) return;
  if (!gin[1] && !weight_scratch_.defined()) weight_scratch_ = Tensor(in[1]->shape());
  if (bias_ && !want_bias && !bias_scratch_.defined()) bias_scratch_ = Tensor(in[2]->shape());
  bind(src_, *in[0]), bind(dwei_, gin[1] ? *gin[1] : weight_scratch_);
  if (bias_) bind(dbia_, want_bias ? *gin[2] : bias_scratch_);
  run(bwd_weights, bwd_w_args_);
}

}  // namespace sf::onednn
