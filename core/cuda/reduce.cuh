// A deterministic sum over n terms on the GPU, for .cu files: a fixed grid, so each term lands in the same
// partial sum in the same order on every run and every GPU (the CPU's order differs, so results may differ in
// the last bits), in double. Two launches, no host wait: the sum is left in device memory.
#pragma once
#include <cstdint>

#include "core/cuda/check.h"
#include "core/cuda/stream.h"

namespace sf::cuda {

constexpr unsigned kReduceThreads = 256;
constexpr unsigned kReduceBlocks = 256;

// Sums one block's kReduceThreads values in shared memory, always in the same tree order.
__device__ inline double block_sum(double v) {
  __shared__ double lane[kReduceThreads];
  lane[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = kReduceThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) lane[threadIdx.x] += lane[threadIdx.x + s];
    __syncthreads();
  }
  return lane[0];
}

// Block b's partial sum of term(i) over i = b·kReduceThreads + t + k·kReduceBlocks·kReduceThreads.
template <class F>
__global__ void partial_sums(int64_t n, F term, double* partial) {
  double acc = 0;
  for (int64_t i = blockIdx.x * int64_t(kReduceThreads) + threadIdx.x; i < n;
       i += int64_t(kReduceBlocks) * kReduceThreads)
    acc += term(i);
  const double s = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// The partials' sum, handed to finish(sum) on one thread (to store it where and as the caller wants).
template <class Finish>
__global__ void final_sum(const double* partial, Finish finish) {
  double acc = 0;
  for (unsigned i = threadIdx.x; i < kReduceBlocks; i += kReduceThreads) acc += partial[i];
  const double s = block_sum(acc);
  if (threadIdx.x == 0) finish(s);
}

// Σ term(i) for i < n, then finish(sum) on the device, both on `stream`; `partial` holds kReduceBlocks
// doubles of scratch.
template <class F, class Finish>
void reduce_on_device(int64_t n, F term, double* partial, Finish finish, const char* name,
                      cudaStream_t stream = compute_stream()) {
  partial_sums<<<kReduceBlocks, kReduceThreads, 0, stream>>>(n, term, partial);
  check_launch(name);
  final_sum<<<1, kReduceThreads, 0, stream>>>(partial, finish);
  check_launch(name);
}

}  // namespace sf::cuda
