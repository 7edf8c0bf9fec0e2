#include "ops/cpu/dnnl_weighted.h"

namespace sf::onednn {

void WeightedPrimitives::bind_descs(const dnnl::memory::desc& src, const dnnl::memory::desc& wei,
                                    const dnnl::memory::desc& bia, const dnnl::memory::desc& dst, bool has_bias) {
  bias_ = has_bias;
  src_ = unbound(src), wei_ = unbound(wei), dst_ = unbound(dst);
  dsrc_ = unbound(src), dwei_ = unbound(wei), ddst_ = unbound(dst);
  wei_fwd_ = wei_bwd_data_ = dwei_back_ = {};
  fwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_DST, dst_}};
  bwd_data_args_ = {{DNNL_ARG_DIFF_SRC, dsrc_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_DIFF_DST, ddst_}};
  bwd_w_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DIFF_WEIGHTS, dwei_}, {DNNL_ARG_DIFF_DST, ddst_}};
  if (bias_) {
    bia_ = unbound(bia), dbia_ = unbound(bia);
    fwd_args_[DNNL_ARG_BIAS] = bia_;
    bwd_w_args_[DNNL_ARG_DIFF_BIAS] = dbia_;
  }
}

WeightedPrimitives::Reordered WeightedPrimitives::reordered(const dnnl::memory& user, const dnnl::memory::desc& prim_md,
                                                            bool to_prim) {
  Reordered r;
  if (prim_md == user.get_desc()) return r;
  r.active = true;
  r.mem = dnnl::memory(prim_md, engine());
  r.prim = to_prim ? dnnl::reorder(user, r.mem) : dnnl::reorder(r.mem, user);
  return r;
}

void WeightedPrimitives::use_weight_formats(const dnnl::memory::desc& fwd, const dnnl::memory::desc& bwd_data,
                                            const dnnl::memory::desc& bwd_weights) {
  wei_fwd_ = reordered(wei_, fwd, true);
  wei_bwd_data_ = reordered(wei_, bwd_data, true);
  dwei_back_ = reordered(dwei_, bwd_weights, false);
  if (wei_fwd_.active) fwd_args_[DNNL_ARG_WEIGHTS] = wei_fwd_.mem;
  if (wei_bwd_data_.active) bwd_data_args_[DNNL_ARG_WEIGHTS] = wei_bwd_data_.mem;
  if (dwei_back_.active) bwd_w_args_[DNNL_ARG_DIFF_WEIGHTS] = dwei_back_.mem;
}

void WeightedPrimitives::forward(std::span<const Tensor* const> in, Tensor& out) {
  bind(src_, *in[0]), bind(wei_, *in[1]), bind(dst_, out);
  if (bias_) bind(bia_, *in[2]);
  if (wei_fwd_.active) wei_fwd_.prim.execute(stream(), wei_, wei_fwd_.mem);
  run(fwd, fwd_args_);
}

void WeightedPrimitives::backward(std::span<const Tensor* const> in, const Tensor& gout, std::span<Tensor* const> gin) {
  bind(ddst_, gout);
  if (gin[0]) {
    bind(dsrc_, *gin[0]), bind(wei_, *in[1]);
    if (wei_bwd_data_.active) wei_bwd_data_.prim.execute(stream(), wei_, wei_bwd_data_.mem);
    run(bwd_data, bwd_data_args_);
  }
  const bool want_bias = bias_ && gin[2];
  if (!gin[1] && !want_bias) return;
  // With a reordered weight gradient the primitive writes its own buffer; only a wanted one is copied back.
  if (!gin[1] && !dwei_back_.active && !weight_scratch_.defined()) weight_scratch_ = Tensor(in[1]->shape());
  if (bias_ && !want_bias && !bias_scratch_.defined()) bias_scratch_ = Tensor(in[2]->shape());
  bind(src_, *in[0]);
  if (gin[1] || !dwei_back_.active) bind(dwei_, gin[1] ? *gin[1] : weight_scratch_);
  if (bias_) bind(dbia_, want_bias ? *gin[2] : bias_scratch_);
  run(bwd_weights, bwd_w_args_);
  if (gin[1] && dwei_back_.active) dwei_back_.prim.execute(stream(), dwei_back_.mem, dwei_);
}

void WeightedPrimitives::use_scratchpads(const dnnl::memory::desc& fwd, const dnnl::memory::desc& bwd_data,
                                         const dnnl::memory::desc& bwd_weights) {
  add_scratchpad(fwd_args_, fwd);
  add_scratchpad(bwd_data_args_, bwd_data);
  add_scratchpad(bwd_w_args_, bwd_weights);
}

}  // namespace sf::onednn
