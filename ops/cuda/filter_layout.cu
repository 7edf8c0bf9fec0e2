// The filter transposes of ops/cuda/filter_layout.h: one thread per weight, writes coalesced. Weights are at
// most a few MB, so one pass without tiling costs microseconds beside the convolution.
#include "core/cuda/elementwise.cuh"
#include "ops/cuda/filter_layout.h"

namespace sf::cuda {

void oihw_to_ohwi(const float* src, float* dst, int64_t o, int64_t cg, int64_t khw, cudaStream_t stream) {
  launch_elementwise(
      o * cg * khw, stream,
      [=] __device__(int64_t i) {  // i indexes dst [o][s][c]
        const int64_t c = i % cg, s = (i / cg) % khw, k = i / (cg * khw);
        dst[i] = src[(k * cg + c) * khw + s];
      },
      "conv2d (filter to NHWC order)");
}

void ohwi_to_oihw(const float* src, float* dst, int64_t o, int64_t cg, int64_t khw, cudaStream_t stream) {
  launch_elementwise(
      o * cg * khw, stream,
      [=] __device__(int64_t i) {  // i indexes dst [o][c][s]
        const int64_t s = i % khw, c = (i / khw) % cg, k = i / (cg * khw);
        dst[i] = src[(k * khw + s) * cg + c];
      },
      "conv2d (filter gradient from NHWC order)");
}

}  // namespace sf::cuda
