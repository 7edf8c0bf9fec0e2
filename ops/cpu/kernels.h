// oneDNN-backed CPU kernels (primitives: convolution, pooling, inner product, eltwise).
#pragma once
#include "core/op.h"

namespace sf::onednn {

OpPtr make_conv2d(const Attrs& a);
OpPtr make_conv2d_gemm(const Attrs& a);  // im2col + micro-GEMM for small channel counts
OpPtr make_avgpool2d(const Attrs& a);
OpPtr make_avgpool2d_loops(const Attrs& a);  // OpenMP loops, faster than oneDNN on small NCHW maps
OpPtr make_dense(const Attrs& a);
OpPtr make_dense_loops(const Attrs& a);  // plain loops: oneDNN's calls cost more than the Liu net's dense layer
OpPtr make_eltwise(const std::string& type, const Attrs& a);
OpPtr make_activation_loops(const std::string& type, const Attrs& a);  // vectorised loops, any activation

}  // namespace sf::onednn
