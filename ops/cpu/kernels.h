// oneDNN-backed CPU kernels (primitives: convolution, pooling, inner product, eltwise, batch normalization,
// reorder) and the hand-written
// loops that beat them on the Liu nets. The hand-written kernels are registered above oneDNN only within
// their supports() — the shapes they were measured on, stated next to each predicate — and oneDNN takes
// everything else.
#pragma once
#include <span>

#include "core/op.h"

namespace sf::onednn {

OpPtr make_conv2d(const Attrs& a);
OpPtr make_conv2d_gemm(const Attrs& a);  // im2col + micro-GEMM; chosen only inside conv2d_gemm_supports()
OpPtr make_avgpool2d(const Attrs& a);
OpPtr make_avgpool2d_loops(const Attrs& a);  // OpenMP loops; chosen only inside avgpool2d_loops_supports()
OpPtr make_dense(const Attrs& a);
OpPtr make_batchnorm(const Attrs& a);
OpPtr make_batchnorm_loops(const Attrs& a);  // fused OpenMP loops, either layout
OpPtr make_global_avgpool(const Attrs& a);
OpPtr make_global_avgpool_loops(const Attrs& a);  // OpenMP loops, either layout
OpPtr make_to_nhwc(const Attrs& a);               // oneDNN reorder
OpPtr make_dense_loops(const Attrs& a);           // plain loops; chosen only inside dense_loops_supports()
OpPtr make_eltwise(const std::string& type, const Attrs& a);
OpPtr make_activation_loops(const std::string& type, const Attrs& a);  // vectorised loops, any activation

// What each hand-written kernel was measured on (the comments at the definitions give the numbers), as a
// predicate for KernelEntry::supports and in words for error messages.
bool conv2d_gemm_supports(const Attrs& a, std::span<const Shape> in);
extern const char* const kConv2dGemmCovers;
bool dense_loops_supports(const Attrs& a, std::span<const Shape> in);
extern const char* const kDenseLoopsCovers;
bool avgpool2d_loops_supports(const Attrs& a, std::span<const Shape> in);
extern const char* const kAvgPool2dLoopsCovers;
bool batchnorm_loops_supports(const Attrs& a, std::span<const Shape> in);
extern const char* const kBatchNormLoopsCovers;
// oneDNN 2.6 eltwise: relu, relu6 (clip_v2) and softplus without an output scale (it has no scale;
// noisy_softplus has no form).
bool eltwise_supports(const std::string& type, const Attrs& a);
extern const char* const kEltwiseCovers;

}  // namespace sf::onednn
