#include "ops/conv2d.h"

#include "ops/cpu/dnnl_weighted.h"
#include "ops/cpu/kernels.h"

namespace sf::onednn {
namespace {

using namespace dnnl;

class Conv2d final : public WeightedOp<Conv2dOp> {
 public:
  using WeightedOp::WeightedOp;

  Shape prepare(std::span<const Shape> in) override {
    Shape out = Conv2dOp::prepare(in);
    const memory::dims strides{g_.stride, g_.stride}, pad{g_.pad, g_.pad};
    const auto src = plain(in[0]), wei = plain(in[1]), dst = plain(out);
    const auto bia = g_.bias ? plain(in[2]) : memory::desc();
    const auto algo = algorithm::convolution_direct;

    auto fwd_d =
        g_.bias ? convolution_forward::desc(prop_kind::forward_training, algo, src, wei, bia, dst, strides, pad, pad)
                : convolution_forward::desc(prop_kind::forward_training, algo, src, wei, dst, strides, pad, pad);
    convolution_forward::primitive_desc fwd_pd(fwd_d, engine());
    p_.fwd = convolution_forward(fwd_pd);
    p_.bwd_data = convolution_backward_data(convolution_backward_data::primitive_desc(
        convolution_backward_data::desc(algo, src, wei, dst, strides, pad, pad), engine(), fwd_pd));
    auto bwd_w_d = g_.bias ? convolution_backward_weights::desc(algo, src, wei, bia, dst, strides, pad, pad)
                           : convolution_backward_weights::desc(algo, src, wei, dst, strides, pad, pad);
    p_.bwd_weights =
        convolution_backward_weights(convolution_backward_weights::primitive_desc(bwd_w_d, engine(), fwd_pd));
    p_.bind_descs(src, wei, bia, dst, g_.bias);
    return out;
  }
};

}  // namespace

OpPtr make_conv2d(const Attrs& a) { return std::make_unique<Conv2d>(a); }

}  // namespace sf::onednn
