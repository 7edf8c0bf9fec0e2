// Plain-loop kernels: the oracle every optimised kernel is tested against. They favour obviousness over
// speed; the math sits in a comment above each loop.
#pragma once
#include "core/op.h"

namespace sf::reference {

OpPtr make_conv2d(const Attrs& a);
OpPtr make_avgpool2d(const Attrs& a);
OpPtr make_global_avgpool(const Attrs& a);
OpPtr make_batchnorm(const Attrs& a);
OpPtr make_to_nhwc(const Attrs& a);
OpPtr make_dense(const Attrs& a);
OpPtr make_activation(const std::string& type, const Attrs& a);
OpPtr make_loss(const std::string& type, bool parallel);

}  // namespace sf::reference
