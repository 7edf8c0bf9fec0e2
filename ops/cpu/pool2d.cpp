#include "ops/pool2d.h"

#include "ops/cpu/dnnl_pooling.h"
#include "ops/cpu/kernels.h"

namespace sf::onednn {
namespace {

using namespace dnnl;

class AvgPool2d final : public AvgPoolingOp<AvgPool2dOp> {
 public:
  using AvgPoolingOp::AvgPoolingOp;

  Shape prepare(std::span<const Shape> in) override {
    Shape out = AvgPool2dOp::prepare(in);
    const memory::dims strides{g_.stride, g_.stride}, kernel{g_.k, g_.k}, pad{g_.pad, g_.pad};
    // oneDNN requires the right padding to cover the last window exactly; compute it as oneDNN does.
    const memory::dims pad_r{(g_.oh - 1) * g_.stride + g_.k - g_.h - g_.pad,
                             (g_.ow - 1) * g_.stride + g_.k - g_.w - g_.pad};
    const auto src = plain(in[0]), dst = plain(out);
    p_.create(src, dst, strides, kernel, pad, pad_r);
    return out;
  }
};

}  // namespace

OpPtr make_avgpool2d(const Attrs& a) { return std::make_unique<AvgPool2d>(a); }

}  // namespace sf::onednn
