// Host-to-GPU uploads that the host does not wait for (the trainer's batches): staged through pinned host
// memory and copied on a copy stream of their own, so the copy overlaps the kernels already queued.
#pragma once
#include <cstdint>

namespace sf::cuda {

// dst (device) ← host[0, n), ordered before every later kernel on the compute stream (core/cuda/stream.h),
// which the ops use. The host may reuse `host` as soon as this returns.
void upload(float* dst, const float* host, int64_t n);

}  // namespace sf::cuda
