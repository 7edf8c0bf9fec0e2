#include "core/cuda/upload.h"

#include <cstring>

#include "core/cuda/check.h"

namespace sf::cuda {
namespace {

// A ring of staging slots, each a pinned host buffer and a device buffer of the same size. One upload:
//   host → pinned (memcpy on the host), pinned → staging (copy stream), staging → dst (default stream, after
//   the copy's event).
// Going through a staging buffer, not straight into dst, is what lets the copy run while the default stream
// still computes on dst's previous contents; the device-to-device copy after it costs microseconds. A slot is
// reused kSlots uploads later, after its two events say the last use is done (a trainer's step uploads
// images and targets, so four slots give two steps of lead).
class UploadRing {
 public:
  static constexpr int kSlots = 4;

  UploadRing() {
    check(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking), "upload: copy stream");
    for (Slot& s : slots_) {
      check(cudaEventCreateWithFlags(&s.copied, cudaEventDisableTiming), "upload: event");
      check(cudaEventCreateWithFlags(&s.consumed, cudaEventDisableTiming), "upload: event");
    }
  }
  // At process exit the runtime may be gone already: nothing here may throw.
  ~UploadRing() {
    for (Slot& s : slots_) {
      (void)cudaFreeHost(s.pinned);
      (void)cudaFree(s.staging);
      (void)cudaEventDestroy(s.copied);
      (void)cudaEventDestroy(s.consumed);
    }
    (void)cudaStreamDestroy(copy_);
    (void)cudaGetLastError();
  }

  void upload(float* dst, const float* host, int64_t n) {
    if (n <= 0) return;
    Slot& s = slots_[next_];
    next_ = (next_ + 1) % kSlots;
    const size_t bytes = static_cast<size_t>(n) * sizeof(float);
    check(cudaEventSynchronize(s.copied), "upload: waiting for a staging slot");  // pinned is free again
    if (bytes > s.bytes) {
      // Grows at the first steps only. cudaFree waits for the device, so the old buffers are no longer read.
      check(cudaFreeHost(s.pinned), "upload: cudaFreeHost");
      check(cudaFree(s.staging), "upload: cudaFree");
      s.pinned = nullptr, s.staging = nullptr, s.bytes = 0;
      check(cudaMallocHost(&s.pinned, bytes), "upload: pinned host buffer (cudaMallocHost)");
      check(cudaMalloc(&s.staging, bytes), "upload: staging buffer (cudaMalloc)");
      s.bytes = bytes;
    }
    std::memcpy(s.pinned, host, bytes);
    check(cudaStreamWaitEvent(copy_, s.consumed, 0), "upload: ordering the copy");  // staging is free again
    check(cudaMemcpyAsync(s.staging, s.pinned, bytes, cudaMemcpyHostToDevice, copy_), "upload: host to device");
    check(cudaEventRecord(s.copied, copy_), "upload: event");
    check(cudaStreamWaitEvent(cudaStreamLegacy, s.copied, 0), "upload: ordering the kernels after the copy");
    check(cudaMemcpyAsync(dst, s.staging, bytes, cudaMemcpyDeviceToDevice, cudaStreamLegacy), "upload: into place");
    check(cudaEventRecord(s.consumed, cudaStreamLegacy), "upload: event");
  }

 private:
  struct Slot {
    void* pinned = nullptr;
    void* staging = nullptr;
    size_t bytes = 0;
    cudaEvent_t copied = nullptr, consumed = nullptr;
  };
  cudaStream_t copy_ = nullptr;
  Slot slots_[kSlots];
  int next_ = 0;
};

}  // namespace

void upload(float* dst, const float* host, int64_t n) {
  thread_local UploadRing ring;  // per thread, as the primitives' scratch: no locking
  ring.upload(dst, host, n);
}

}  // namespace sf::cuda
