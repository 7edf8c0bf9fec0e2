// CUDA runtime status codes turned into errors that say what was being done.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace sf::cuda {

[[noreturn]] void fail(cudaError_t status, const std::string& what);
inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail(status, what);
}
// After a kernel launch: a bad launch configuration shows here; a fault while running shows at the next
// synchronising call, which checks its own status.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// A grid-stride launch over n elements: enough blocks to fill the GPU, never more than the elements need.
inline unsigned grid_for(int64_t n, unsigned block = 256) {
  const int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks > 65535 ? 65535 : blocks);
}

}  // namespace sf::cuda
