// Convolution weights between our order [O, C/G, KH, KW] (PyTorch's, in either activation layout) and cuDNN's
// NHWC filter order [O, KH, KW, C/G], which its backward-data algorithms need beside NHWC activations (with an
// NCHW-ordered filter cuDNN 9 offers none that is deterministic). The two orders hold the same bytes when
// C/G = 1 (depthwise) or KH = KW = 1 (pointwise): then no copy is needed.
#pragma once
#include <cstdint>

#include <cuda_runtime.h>

namespace sf::cuda {

inline bool filter_orders_coincide(int64_t cg, int64_t kh, int64_t kw) { return cg == 1 || (kh == 1 && kw == 1); }

// dst[o][s][c] = src[o][c][s] (s = kh·kw positions, c = C/G), on `stream`; and the inverse.
void oihw_to_ohwi(const float* src, float* dst, int64_t o, int64_t cg, int64_t khw, cudaStream_t stream);
void ohwi_to_oihw(const float* src, float* dst, int64_t o, int64_t cg, int64_t khw, cudaStream_t stream);

}  // namespace sf::cuda
