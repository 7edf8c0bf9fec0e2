// oneDNN average pooling, forward and backward, with its memory objects and argument maps built once: the
// pooling kernels (avgpool2d, global_avgpool, through AvgPoolingOp) only describe their window.
#pragma once
#include <span>

#include "core/op.h"
#include "ops/cpu/dnnl_context.h"

namespace sf::onednn {

class AvgPoolingPrimitives {
 public:
  void create(const dnnl::memory::desc& src, const dnnl::memory::desc& dst, const dnnl::memory::dims& strides,
              const dnnl::memory::dims& window, const dnnl::memory::dims& pad_l, const dnnl::memory::dims& pad_r) {
    using namespace dnnl;
    const auto algo = algorithm::pooling_avg_exclude_padding;
    const primitive_attr attr = own_scratchpad();
    pooling_forward::primitive_desc fwd_pd(
        pooling_forward::desc(prop_kind::forward_training, algo, src, dst, strides, window, pad_l, pad_r), attr,
        engine());
    pooling_backward::primitive_desc bwd_pd(pooling_backward::desc(algo, src, dst, strides, window, pad_l, pad_r), attr,
                                            engine(), fwd_pd);
    fwd_ = pooling_forward(fwd_pd);
    bwd_ = pooling_backward(bwd_pd);
    src_ = unbound(src), dst_ = unbound(dst), dsrc_ = unbound(src), ddst_ = unbound(dst);
    fwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}};
    bwd_args_ = {{DNNL_ARG_DIFF_SRC, dsrc_}, {DNNL_ARG_DIFF_DST, ddst_}};
    add_scratchpad(fwd_args_, fwd_pd.scratchpad_desc());
    add_scratchpad(bwd_args_, bwd_pd.scratchpad_desc());
  }
  void forward(const Tensor& x, Tensor& y) {
    bind(src_, x), bind(dst_, y);
    run(fwd_, fwd_args_);
  }
  // gin as in Op::backward: a null dx needs no work.
  void backward(const Tensor& dy, std::span<Tensor* const> gin) {
    if (!gin[0]) return;
    bind(dsrc_, *gin[0]), bind(ddst_, dy);
    run(bwd_, bwd_args_);
  }

 private:
  dnnl::pooling_forward fwd_;
  dnnl::pooling_backward bwd_;
  dnnl::memory src_, dst_, dsrc_, ddst_;
  Args fwd_args_, bwd_args_;
};

// An op whose oneDNN kernel is AvgPoolingPrimitives: `ShapeRules` is the op's shape class (AvgPool2dOp,
// GlobalAvgPoolOp); the derived kernel only describes its window in prepare().
template <class ShapeRules>
class AvgPoolingOp : public ShapeRules {
 public:
  using ShapeRules::ShapeRules;
  const char* impl() const override { return "onednn"; }
  void forward(const ExecContext&, std::span<const Tensor* const> in, Tensor& out) override { p_.forward(*in[0], out); }
  void backward(const ExecContext&, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    p_.backward(gout, gin);
  }

 protected:
  AvgPoolingPrimitives p_;
};

}  // namespace sf::onednn
