// conv2d through oneDNN 2.6 convolution: any groups (weights goihw with G = groups, the same memory as our
// [O, C/G, KH, KW]) and either layout (src/dst format_tag nchw or nhwc; oneDNN's dims are always N, C, H, W).
#include "ops/conv2d.h"

#include "ops/cpu/dnnl_weighted.h"
#include "ops/cpu/kernels.h"

namespace sf::onednn {
namespace {

using namespace dnnl;
using tag = memory::format_tag;

class Conv2d final : public WeightedOp<Conv2dOp> {
 public:
  using WeightedOp::WeightedOp;

  Shape prepare(std::span<const Shape> in) override {
    Shape out = Conv2dOp::prepare(in);
    const auto& g = g_;
    const memory::dims strides{g.stride, g.stride}, pad{g.pad, g.pad};
    const tag act = g.nhwc ? tag::nhwc : tag::nchw;
    const memory::desc src({g.n, g.c, g.h, g.w}, memory::data_type::f32, act);
    const memory::desc dst({g.n, g.o, g.oh, g.ow}, memory::data_type::f32, act);
    const memory::desc wei =
        g.groups == 1 ? memory::desc({g.o, g.c, g.kh, g.kw}, memory::data_type::f32, tag::oihw)
                      : memory::desc({g.groups, g.og(), g.cg(), g.kh, g.kw}, memory::data_type::f32, tag::goihw);
    const auto bia = g.bias ? plain(in[2]) : memory::desc();
    // NHWC: the primitives choose their weight format (format_tag::any) and every call reorders the weights
    // into it (and the weight gradient back). With the weights fixed at oihw / goihw, oneDNN 2.6 has only its
    // reference kernel (ref:any) for nhwc activations. Measured (batch 64, 2 threads, bench_ops mn_* cases):
    //   1×1 256→256 on 8×8:  fwd 1.9–2.2 ms (brgconv_1x1, ≈ 250–280 GFLOP/s) vs 755–856 ms plain;
    //                        bwd 4.2–5.3 ms vs 3.9–4.1 s
    //   depthwise 3×3, 256 channels on 8×8: fwd 0.24–0.43 ms (brdgmm_dw) vs 98–101 ms; bwd 0.61–0.68 vs 237–248 ms
    // The reorder of the 256×256 weights takes ≈ 0.05 ms of the 2 ms forward. NCHW keeps plain weights: there
    // format_tag::any measured the same (x64:gemm:jit either way; pointwise 2.4–2.6 ms fwd) — and NCHW
    // depthwise (7.5–9.5 ms fwd, 28 ms bwd, gemm per group) is 30× slower than NHWC: MobileNet belongs in nhwc.
    const memory::desc wei_prim = g.nhwc ? memory::desc(wei.dims(), memory::data_type::f32, tag::any) : wei;
    const auto algo = algorithm::convolution_direct;

    auto fwd_d =
        g.bias
            ? convolution_forward::desc(prop_kind::forward_training, algo, src, wei_prim, bia, dst, strides, pad, pad)
            : convolution_forward::desc(prop_kind::forward_training, algo, src, wei_prim, dst, strides, pad, pad);
    const primitive_attr attr = own_scratchpad();
    convolution_forward::primitive_desc fwd_pd(fwd_d, attr, engine());
    convolution_backward_data::primitive_desc bwd_data_pd(
        convolution_backward_data::desc(algo, src, wei_prim, dst, strides, pad, pad), attr, engine(), fwd_pd);
    auto bwd_w_d = g.bias ? convolution_backward_weights::desc(algo, src, wei_prim, bia, dst, strides, pad, pad)
                          : convolution_backward_weights::desc(algo, src, wei_prim, dst, strides, pad, pad);
    convolution_backward_weights::primitive_desc bwd_w_pd(bwd_w_d, attr, engine(), fwd_pd);
    p_.fwd = convolution_forward(fwd_pd);
    p_.bwd_data = convolution_backward_data(bwd_data_pd);
    p_.bwd_weights = convolution_backward_weights(bwd_w_pd);
    p_.bind_descs(src, wei, bia, dst, g.bias);
    p_.use_weight_formats(fwd_pd.weights_desc(), bwd_data_pd.weights_desc(), bwd_w_pd.diff_weights_desc());
    p_.use_scratchpads(fwd_pd.scratchpad_desc(), bwd_data_pd.scratchpad_desc(), bwd_w_pd.scratchpad_desc());
    return out;
  }
};

}  // namespace

OpPtr make_conv2d(const Attrs& a) { return std::make_unique<Conv2d>(a); }

}  // namespace sf::onednn
