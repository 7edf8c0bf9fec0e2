// Grow-only raw device memory for a kernel's own scratch (reduction partials, uploaded indices): what a Tensor
// cannot hold because it is not float, or not worth a Tensor's bookkeeping.
#pragma once
#include <cstddef>

#include "core/capture.h"
#include "core/cuda/check.h"
#include "core/cuda/stream.h"

namespace sf::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (cudaFree(p_) != cudaSuccess) (void)cudaGetLastError();  // at exit the runtime may be gone already
  }

  // At least `count` Ts, valid until the next call; the contents are kept only while the size does not grow.
  template <class T>
  T* get(size_t count) {
    const size_t bytes = count * sizeof(T);
    if (bytes > size_) {
      if (capturing()) throw CaptureFailed("kernel scratch grows during the step");  // as CudaAllocator
      check(cudaFree(p_), "kernel scratch");
      p_ = nullptr;
      size_ = 0;
      check(cudaMalloc(&p_, bytes), "kernel scratch");
      size_ = bytes;
    }
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sf::cuda
