#include "ops/dense.h"

#include "ops/cpu/dnnl_weighted.h"
#include "ops/cpu/kernels.h"

namespace sf::onednn {
namespace {

using namespace dnnl;

class Dense final : public WeightedOp<DenseOp> {
 public:
  using WeightedOp::WeightedOp;

  Shape prepare(std::span<const Shape> in) override {
    Shape out = DenseOp::prepare(in);
    const auto src = plain(in[0]), wei = plain(in[1]), dst = plain(out);
    const auto bia = g_.bias ? plain(in[2]) : memory::desc();
    auto fwd_d = g_.bias ? inner_product_forward::desc(prop_kind::forward_training, src, wei, bia, dst)
                         : inner_product_forward::desc(prop_kind::forward_training, src, wei, dst);
    inner_product_forward::primitive_desc fwd_pd(fwd_d, engine());
    p_.fwd = inner_product_forward(fwd_pd);
    p_.bwd_data = inner_product_backward_data(inner_product_backward_data::primitive_desc(
        inner_product_backward_data::desc(src, wei, dst), engine(), fwd_pd));
    auto bwd_w_d = g_.bias ? inner_product_backward_weights::desc(src, wei, bia, dst)
                           : inner_product_backward_weights::desc(src, wei, dst);
    p_.bwd_weights =
        inner_product_backward_weights(inner_product_backward_weights::primitive_desc(bwd_w_d, engine(), fwd_pd));
    p_.bind_descs(src, wei, bia, dst, g_.bias);
    return out;
  }
};

}  // namespace

OpPtr make_dense(const Attrs& a) { return std::make_unique<Dense>(a); }

}  // namespace sf::onednn
