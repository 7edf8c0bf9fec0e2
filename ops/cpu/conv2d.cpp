#include "ops/conv2d.h"

#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/kernels.h"

namespace sf::onednn {
namespace {

using namespace dnnl;

class Conv2d final : public Conv2dOp {
 public:
  using Conv2dOp::Conv2dOp;
  const char* impl() const override { return "onednn"; }

  Shape prepare(std::span<const Shape> in) override {
    Shape out = Conv2dOp::prepare(in);
    const memory::dims strides{g_.stride, g_.stride}, pad{g_.pad, g_.pad};
    const auto src = plain(in[0]), wei = plain(in[1]), dst = plain(out);
    const auto bia = g_.bias ? plain(in[2]) : memory::desc();
    const auto algo = algorithm::convolution_direct;

    auto fwd_d = g_.bias ? convolution_forward::desc(prop_kind::forward_training, algo, src, wei, bia, dst, strides, pad, pad)
                         : convolution_forward::desc(prop_kind::forward_training, algo, src, wei, dst, strides, pad, pad);
    convolution_forward::primitive_desc fwd_pd(fwd_d, engine());
    fwd_ = convolution_forward(fwd_pd);

    convolution_backward_data::primitive_desc bwd_data_pd(
        convolution_backward_data::desc(algo, src, wei, dst, strides, pad, pad), engine(), fwd_pd);
    bwd_data_ = convolution_backward_data(bwd_data_pd);

    auto bwd_w_d = g_.bias ? convolution_backward_weights::desc(algo, src, wei, bia, dst, strides, pad, pad)
                           : convolution_backward_weights::desc(algo, src, wei, dst, strides, pad, pad);
    bwd_weights_ = convolution_backward_weights(convolution_backward_weights::primitive_desc(bwd_w_d, engine(), fwd_pd));

    src_ = unbound(src), wei_ = unbound(wei), dst_ = unbound(dst);
    dsrc_ = unbound(src), dwei_ = unbound(wei), ddst_ = unbound(dst);
    fwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_DST, dst_}};
    bwd_data_args_ = {{DNNL_ARG_DIFF_SRC, dsrc_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_DIFF_DST, ddst_}};
    bwd_w_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DIFF_WEIGHTS, dwei_}, {DNNL_ARG_DIFF_DST, ddst_}};
    if (g_.bias) {
      bia_ = unbound(bia), dbia_ = unbound(bia);
      fwd_args_[DNNL_ARG_BIAS] = bia_;
      bwd_w_args_[DNNL_ARG_DIFF_BIAS] = dbia_;
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
    if (gin[1]) {
      // oneDNN always produces the bias gradient alongside the weights'; a frozen bias gets a scratch.
      bind(src_, *in[0]), bind(dwei_, *gin[1]);
      if (g_.bias) {
        if (!gin[2] && !bias_scratch_.defined()) bias_scratch_ = Tensor({g_.o});
        bind(dbia_, gin[2] ? *gin[2] : bias_scratch_);
      }
      run(bwd_weights_, bwd_w_args_);
    } else if (g_.bias && gin[2]) {
      // Frozen weights, trainable bias: db[o] = Σ_{n,i,j} dy[n,o,i,j].
      const float* dy = gout.data();
      for (int64_t o = 0; o < g_.o; ++o) {
        double acc = 0.0;
        for (int64_t n = 0; n < g_.n; ++n)
          for (int64_t p = 0; p < g_.oh * g_.ow; ++p) acc += dy[(n * g_.o + o) * g_.oh * g_.ow + p];
        (*gin[2])[o] = static_cast<float>(acc);
      }
    }
  }

 private:
  convolution_forward fwd_;
  convolution_backward_data bwd_data_;
  convolution_backward_weights bwd_weights_;
  memory src_, wei_, bia_, dst_, dsrc_, dwei_, dbia_, ddst_;
  Args fwd_args_, bwd_data_args_, bwd_w_args_;
  Tensor bias_scratch_;
};

}  // namespace

OpPtr make_conv2d(const Attrs& a) { return std::make_unique<Conv2d>(a); }

}  // namespace sf::onednn
