#include "core/cuda/upload.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/cuda/check.h"
#include "core/cuda/stream.h"
#include "core/error.h"

namespace sf::cuda {
namespace {

// A ring of staging slots, each a pinned host buffer and a device buffer of the same size. One upload:
//   host → pinned (memcpy on the host), pinned → staging (copy stream), staging → dst (the compute stream,
//   after the copy's event).
// Going through a staging buffer, not straight into dst, is what lets the copy run while the compute stream
// still computes on dst's previous contents; the device-to-device copy after it is of the same size, at
// device rather than PCIe bandwidth (estimated, not measured: no GPU here yet). A slot is
// reused a ring's length of uploads later, after its two events say the last use is done (a trainer's step
// uploads images and, above 4 KiB, targets: four slots give two steps of lead or more). A slot that grows
// grows to the largest upload the ring has seen, so that whichever slot an upload lands in (the pattern
// shifts when some batches' targets are small and others' are not) has room after the first few steps.
// A staging buffer that does not fit is the batch's doing, as a graph's arena would be (OutOfMemory).
void allocate(cudaError_t status, size_t bytes, const char* memory) {
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw OutOfMemory(std::string("out of ") + memory + " memory allocating " +
                      std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB for a batch's upload staging buffer");
  }
  check(status, "upload: staging buffer");
}

class UploadRing {
 public:
  // `slots` staging slots; each grows to the largest upload it has taken, and to at least `min_bytes`.
  UploadRing(int slots, size_t min_bytes) : slots_(static_cast<size_t>(slots)), min_bytes_(min_bytes) {
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
    // Past this size a batch's kernels outlast its copy by far (an ImageNet evaluation batch of 1000 is
    // 602 MB): a plain copy then, rather than pinned and device staging of that size held for the run.
    constexpr size_t kMaxStaged = size_t{256} << 20;
    if (static_cast<size_t>(n) * sizeof(float) > kMaxStaged) {
      check(cudaMemcpy(dst, host, static_cast<size_t>(n) * sizeof(float), cudaMemcpyHostToDevice), "upload");
      return;
    }
    Slot& s = slots_[next_];
    next_ = (next_ + 1) % slots_.size();
    const size_t bytes = static_cast<size_t>(n) * sizeof(float);
    check(cudaEventSynchronize(s.copied), "upload: waiting for a staging slot");  // pinned is free again
    if (bytes > s.bytes) {
      // Grows at the first steps only, once the slot's last copy into place is done.
      check(cudaEventSynchronize(s.consumed), "upload: waiting for a staging slot");
      check(cudaFreeHost(s.pinned), "upload: cudaFreeHost");
      check(cudaFree(s.staging), "upload: cudaFree");
      s.pinned = nullptr, s.staging = nullptr, s.bytes = 0;
      largest_ = std::max(largest_, bytes);
      const size_t size = std::max(largest_, min_bytes_);
      allocate(cudaMallocHost(&s.pinned, size), size, "pinned host");
      allocate(cudaMalloc(&s.staging, size), size, "GPU");
      s.bytes = size;
    }
    std::memcpy(s.pinned, host, bytes);
    check(cudaStreamWaitEvent(copy_, s.consumed, 0), "upload: ordering the copy");  // staging is free again
    check(cudaMemcpyAsync(s.staging, s.pinned, bytes, cudaMemcpyHostToDevice, copy_), "upload: host to device");
    check(cudaEventRecord(s.copied, copy_), "upload: event");
    const cudaStream_t compute = compute_stream();
    check(cudaStreamWaitEvent(compute, s.copied, 0), "upload: ordering the kernels after the copy");
    check(cudaMemcpyAsync(dst, s.staging, bytes, cudaMemcpyDeviceToDevice, compute), "upload: into place");
    check(cudaEventRecord(s.consumed, compute), "upload: event");
  }

 private:
  struct Slot {
    void* pinned = nullptr;
    void* staging = nullptr;
    size_t bytes = 0;
    cudaEvent_t copied = nullptr, consumed = nullptr;
  };
  cudaStream_t copy_ = nullptr;
  std::vector<Slot> slots_;
  size_t next_ = 0;
  size_t min_bytes_;
  size_t largest_ = 0;
};

// Small uploads (a small batch's targets, the optimiser's rates, a recorded step's dropout key) take a ring
// of their own, whose slots are allocated once at this size. In the batches' ring they would change how many
// uploads a training step makes, so that after an evaluation (two per batch) images would land in slots sized
// for rates, which would grow mid-epoch until every slot held an image batch.
constexpr size_t kSmallBytes = 4096;

}  // namespace

void upload(float* dst, const float* host, int64_t n) {
  // Per thread, as the primitives' scratch: no locking. Eight small slots: over two steps of three small
  // uploads (targets, rates, a dropout key).
  thread_local UploadRing batches(4, 0), small(8, kSmallBytes);
  (static_cast<size_t>(std::max<int64_t>(n, 0)) * sizeof(float) <= kSmallBytes ? small : batches).upload(dst, host, n);
}

}  // namespace sf::cuda
