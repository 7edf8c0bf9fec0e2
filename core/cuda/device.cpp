// The CUDA device: the GPU probe, the allocator, and their registration with core.
#include <mutex>

#include "core/capture.h"
#include "core/cuda/check.h"
#include "core/cuda/primitives.h"
#include "core/cuda/runtime.h"
#include "core/cuda/stream.h"
#include "core/error.h"
#include "core/primitives.h"
#include "core/tensor.h"

namespace sf::cuda {

void fail(cudaError_t status, const std::string& what) {
  (void)cudaGetLastError();  // clear a sticky-free error so the next call does not report it again
  fail_internal("CUDA: " + what + ": " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")");
}

namespace {

std::string mib(size_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

// cudaMalloc's blocks are 256-byte aligned, above the 64 that Allocator promises. The graph's memory planner
// allocates one arena per graph and the workspace grows only, so allocations are few and a caching allocator
// would buy little.
class CudaAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes, size_t slack_bytes) override {
    // A graph would hold the address of memory that is freed before its replays (a step's temporary).
    if (capturing()) throw CaptureFailed("a tensor of " + mib(bytes) + " is allocated during the step");
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, bytes);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      size_t free = 0, total = 0;
      (void)cudaMemGetInfo(&free, &total);
      // The user's batch (or net) does not fit: the graph and the trainer catch this to name the layer and
      // the batch.
      throw OutOfMemory("out of GPU memory allocating " + mib(bytes) + " (" + mib(free) + " free of " + mib(total) +
                        ")");
    }
    if (status != cudaSuccess) fail(status, "cudaMalloc of " + mib(bytes));
    if (const cudaError_t s = cudaMemset(static_cast<char*>(p) + bytes - slack_bytes, 0, slack_bytes);
        s != cudaSuccess) {
      (void)cudaFree(p);
      fail(s, "cudaMemset of the slack");
    }
    return p;
  }
  // No throw from a destructor's path: a failing cudaFree means the context is gone anyway. The error is
  // cleared, so that the next check does not blame another call for it.
  void deallocate(void* p) override {
    if (capturing()) return free_after_capture(p);
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
  }
};

}  // namespace

const std::string& gpu_unavailable_reason() {
  static const std::string reason = [] {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      return std::string("no usable CUDA GPU: cudaGetDeviceCount says \"") + cudaGetErrorString(status) + "\"";
    }
    if (count == 0) return std::string("no CUDA GPU on this machine (cudaGetDeviceCount found 0)");
    // The build holds sm_80 and sm_90 code and compute_90 PTX: a GPU below compute capability 8.0 has no
    // kernel image to run, and would fail at the first launch.
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0) != cudaSuccess) {
      (void)cudaGetLastError();
      return std::string("no usable CUDA GPU: its compute capability cannot be read");
    }
    if (major < 8)
      return "no usable CUDA GPU: device 0 has compute capability " + std::to_string(major) + "." +
             std::to_string(minor) + ", and this build runs on 8.0 and newer (CMAKE_CUDA_ARCHITECTURES)";
    return std::string();
  }();
  return reason;
}

void register_device_if_present() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!gpu_unavailable_reason().empty()) return;
    static CudaAllocator allocator;
    register_allocator(Device::cuda, &allocator);
    register_primitives(Device::cuda, &device_primitives());
    register_capture();
  });
}

}  // namespace sf::cuda
