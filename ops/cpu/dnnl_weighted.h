// The three primitives of a oneDNN layer with weights (convolution, inner product) — forward, backward
// data, backward weights — with their memory objects bound once and the argument maps built once. The
// layer kernels only create the primitives; binding, the optional-gradient logic and the weight reorders
// (when a primitive was left to choose its own weight format) live here.
#pragma once
#include <span>

#include "core/op.h"
#include "ops/cpu/dnnl_context.h"

namespace sf::onednn {

class WeightedPrimitives {
 public:
  // src, dst and bias are the tensors' own descs (bias may be a zero desc: no bias); wei is the weight
  // tensor's. The primitives must already be set.
  void bind_descs(const dnnl::memory::desc& src, const dnnl::memory::desc& wei, const dnnl::memory::desc& bia,
                  const dnnl::memory::desc& dst, bool has_bias);
  // The weight formats the primitives chose (format_tag::any): where one differs from the tensor's, every
  // call reorders the weights into it (and the weight gradient back). Call after bind_descs().
  void use_weight_formats(const dnnl::memory::desc& fwd, const dnnl::memory::desc& bwd_data,
                          const dnnl::memory::desc& bwd_weights);

  // The scratchpads of primitives created with own_scratchpad() (dnnl_context.h). Call after bind_descs().
  void use_scratchpads(const dnnl::memory::desc& fwd, const dnnl::memory::desc& bwd_data,
                       const dnnl::memory::desc& bwd_weights);

  void forward(std::span<const Tensor* const> in, Tensor& out);
  // grad_inputs as in Op::backward: {dx, dw[, db]}, any may be null. oneDNN computes dw and db together;
  // an unwanted one goes to a scratch buffer.
  void backward(std::span<const Tensor* const> in, const Tensor& gout, std::span<Tensor* const> gin);

  dnnl::primitive fwd, bwd_data, bwd_weights;

 private:
  // A weight reorder from the tensor's format into a primitive's (or back, for the gradient); inactive when
  // the formats agree.
  struct Reordered {
    bool active = false;
    dnnl::memory mem;  // owns its buffer, in the primitive's format
    dnnl::reorder prim;
  };
  static Reordered reordered(const dnnl::memory& user, const dnnl::memory::desc& prim_md, bool to_prim);

  bool bias_ = false;
  dnnl::memory src_, wei_, bia_, dst_, dsrc_, dwei_, dbia_, ddst_;
  Reordered wei_fwd_, wei_bwd_data_, dwei_back_;
  Args fwd_args_, bwd_data_args_, bwd_w_args_;
  Tensor weight_scratch_, bias_scratch_;
};

// An op whose kernels are WeightedPrimitives: `ShapeRules` is the op's shape class (Conv2dOp, DenseOp);
// the derived kernel only builds the primitives in prepare().
template <class ShapeRules>
class WeightedOp : public ShapeRules {
 public:
  using ShapeRules::ShapeRules;
  const char* impl() const override { return "onednn"; }
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override { p_.forward(in, out); }
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    p_.backward(in, gout, gin);
  }

 protected:
  WeightedPrimitives p_;
};

}  // namespace sf::onednn
