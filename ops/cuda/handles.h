// The cuBLAS and cuDNN handles of the calling thread, bound to the op's stream, and their status codes turned
// into errors that name the op. Creating a handle costs milliseconds, so each thread makes one of each once.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include "core/context.h"
#include "core/cuda/check.h"

namespace sf::cuda {

[[noreturn]] void fail_cublas(cublasStatus_t status, const char* op, const char* call);
[[noreturn]] void fail_cudnn(cudnnStatus_t status, const char* op, const char* call);
inline void check_cublas(cublasStatus_t status, const char* op, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS) fail_cublas(status, op, call);
}
inline void check_cudnn(cudnnStatus_t status, const char* op, const char* call) {
  if (status != CUDNN_STATUS_SUCCESS) fail_cudnn(status, op, call);
}

// The op's stream: ExecContext::stream, or where a context names none (every trainer's and simulator's) the
// compute stream (core/cuda/stream.h), on which device primitives and optimiser updates run too, in order; a
// copy stream (overlapped uploads) joins that order through events.
cudaStream_t stream_of(const ExecContext& ctx);
cublasHandle_t cublas(const ExecContext& ctx);  // on ctx's stream
cudnnHandle_t cudnn(const ExecContext& ctx);    // on ctx's stream

}  // namespace sf::cuda
