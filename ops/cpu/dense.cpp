#include "ops/dense.h"

#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/kernels.h"

namespace sf::onednn {
namespace {

using namespace dnnl;

class Dense final : public DenseOp {
 public:
  using DenseOp::DenseOp;
  const char* impl() const override { return "onednn"; }

  Shape prepare(std::span<const Shape> in) override {
    Shape out = DenseOp::prepare(in);
    const auto src = plain(in[0]), wei = plain(in[1]), dst = plain(out);
    const auto bia = g_.bias ? plain(in[2]) : memory::desc();
    auto fwd_d = g_.bias ? inner_product_forward::desc(prop_kind::forward_training, src, wei, bia, dst)
                         : inner_product_forward::desc(prop_kind::forward_training, src, wei, dst);
    inner_product_forward::primitive_desc fwd_pd(fwd_d, engine());
    fwd_ = inner_product_forward(fwd_pd);
    bwd_data_ = inner_product_backward_data(inner_product_backward_data::primitive_desc(
        inner_product_backward_data::desc(src, wei, dst), engine(), fwd_pd));
    auto bwd_w_d = g_.bias ? inner_product_backward_weights::desc(src, wei, bia, dst)
                           : inner_product_backward_weights::desc(src, wei, dst);
    bwd_weights_ = inner_product_backward_weights(inner_product_backward_weights::primitive_desc(bwd_w_d, engine(), fwd_pd));

    src_ = unbound(src), wei_ = unbound(wei), dst_ = unbound(dst);
    dsrc_ = unbound(src), dwei_ = unbound(wei), ddst_ = unbound(dst);
    fwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_DST, dst_}};
    bwd_data_args_ = {{DNNL_ARG_DIFF_SRC, dsrc_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_DIFF_DST, ddst_}};
    bwd_w_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DIFF_WEIGHTS, dwei_}, {DNNL_ARG_DIFF_DST, ddst_}};
    if (g_.bias) {
      bia_ = unbound(bia), dbia_ = unbound(bia);
      fwd_args_[DNNL_ARG_BIAS] = bia_;
      bwd_w_args_[DNNL_ARG_DIFF_BIAS] = dbia_;
      bias_scratch_ = Tensor({g_.out});
    }
    return out;
  }

  void forward(std::span<const Tensor* const> in, Tensor& out) override {
    bind(src_, *in[0]), bind(wei_, *in[1]), bind(dst_, out);
    if (g_.bias) bind(bia_, *in[2]);
    run(fwd_, fwd_args_);
  }

  void backward(std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    bind(ddst_, gout);
    if (gin[0]) {
      bind(dsrc_, *gin[0]), bind(wei_, *in[1]);
      run(bwd_data_, bwd_data_args_);
    }
    const bool want_bias = g_.bias && gin[2];
    if (gin[1] || want_bias) {
      // The primitive computes both; whichever is not wanted goes to a scratch buffer.
      if (!gin[1] && !weight_scratch_.defined()) weight_scratch_ = Tensor(in[1]->shape());
      bind(src_, *in[0]), bind(dwei_, gin[1] ? *gin[1] : weight_scratch_);
      if (g_.bias) bind(dbia_, want_bias ? *gin[2] : bias_scratch_);
      run(bwd_weights_, bwd_w_args_);
    }
  }

 private:
  inner_product_forward fwd_;
  inner_product_backward_data bwd_data_;
  inner_product_backward_weights bwd_weights_;
  memory src_, wei_, bia_, dst_, dsrc_, dwei_, dbia_, ddst_;
  Args fwd_args_, bwd_data_args_, bwd_w_args_;
  Tensor weight_scratch_, bias_scratch_;
};

}  // namespace

OpPtr make_dense(const Attrs& a) { return std::make_unique<Dense>(a); }

}  // namespace sf::onednn
