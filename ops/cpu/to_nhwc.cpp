// to_nhwc through a oneDNN reorder (nchw → nhwc over the same logical N, C, H, W dims; backward the reverse).
#include "ops/to_nhwc.h"

#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/kernels.h"

namespace sf::onednn {
namespace {

using namespace dnnl;
using tag = memory::format_tag;

class ToNhwc final : public ToNhwcOp {
 public:
  using ToNhwcOp::ToNhwcOp;
  const char* impl() const override { return "onednn"; }

  Shape prepare(std::span<const Shape> in) override {
    Shape out = ToNhwcOp::prepare(in);
    const memory::dims dims{n_, c_, h_, w_};
    nchw_ = unbound(memory::desc(dims, memory::data_type::f32, tag::nchw));
    nhwc_ = unbound(memory::desc(dims, memory::data_type::f32, tag::nhwc));
    to_nhwc_ = reorder(nchw_, nhwc_);
    to_nchw_ = reorder(nhwc_, nchw_);
    return out;
  }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    bind(nchw_, *in[0]), bind(nhwc_, out);
    to_nhwc_.execute(stream(), nchw_, nhwc_);
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    bind(nhwc_, gout), bind(nchw_, *gin[0]);
    to_nchw_.execute(stream(), nhwc_, nchw_);
  }

 private:
  memory nchw_, nhwc_;
  reorder to_nhwc_, to_nchw_;
};

}  // namespace

OpPtr make_to_nhwc(const Attrs& a) { return std::make_unique<ToNhwc>(a); }

}  // namespace sf::onednn
