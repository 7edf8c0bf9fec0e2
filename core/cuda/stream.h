// The stream that every training kernel, library call and upload of the CUDA device runs on. Not the legacy
// default stream, which a CUDA graph cannot capture; but a blocking stream, so that the legacy stream's
// synchronous copies (a read of a result, a tensor's copy to the host) and the simulator's kernels still wait
// for it, as they did when everything ran on the legacy stream.
#pragma once
#include <cuda_runtime.h>

namespace sf::cuda {

cudaStream_t compute_stream();  // created at the first call, for the process's life
bool capturing();               // whether compute_stream() is being recorded into a graph now

}  // namespace sf::cuda
