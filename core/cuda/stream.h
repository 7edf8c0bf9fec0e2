// The stream that every kernel, library call and upload of the CUDA device runs on (training and the
// simulator). Not the legacy default stream, which a CUDA graph cannot capture; but a blocking stream, so
// that the legacy stream's synchronous copies (a read of a result, a tensor's copy to the host) still wait
// for it, as they did when everything ran on the legacy stream.
#pragma once
#include <cuda_runtime.h>

namespace sf::cuda {

cudaStream_t compute_stream();  // created at the first call, for the process's life

// Whether this thread is recording the compute stream into a graph (core/capture.h) now. One thread drives
// the GPU; another's work on the legacy stream meanwhile would join the blocking compute stream and spoil
// the recording, so nothing else may touch the GPU while a step is recorded.
bool capturing();
// Memory freed while this thread records (a temporary's destructor, unwinding a failed recording): cudaFree
// would fail inside a capture, so it is freed when the recording ends.
void free_after_capture(void* device_memory);

}  // namespace sf::cuda
