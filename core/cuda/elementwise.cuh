// Element-wise kernels from a device lambda: f(i) for every i < n, grid-stride, on `stream`. For .cu files.
#pragma once
#include <cstdint>

#include "core/cuda/check.h"

namespace sf::cuda {

constexpr unsigned kElementwiseThreads = 256;

template <class F>
__global__ void elementwise_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) f(i);
}

template <class F>
void launch_elementwise(int64_t n, cudaStream_t stream, F f, const char* name) {
  if (n <= 0) return;
  elementwise_kernel<<<grid_for(n, kElementwiseThreads), kElementwiseThreads, 0, stream>>>(n, f);
  check_launch(name);
}

}  // namespace sf::cuda
