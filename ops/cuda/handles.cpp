#include "ops/cuda/handles.h"

#include <string>

#include "core/cuda/stream.h"
#include "core/error.h"

namespace sf::cuda {

void fail_cublas(cublasStatus_t status, const char* op, const char* call) {
  fail_internal(std::string(op) + ": " + call + " failed: " + cublasGetStatusName(status) + " (" +
                cublasGetStatusString(status) + ")");
}
void fail_cudnn(cudnnStatus_t status, const char* op, const char* call) {
  char detail[512] = "";
  cudnnGetLastErrorString(detail, sizeof detail);  // cuDNN 9 says which parameter it disliked
  fail_internal(std::string(op) + ": " + call + " failed: " + cudnnGetErrorString(status) +
                (detail[0] ? std::string(" (") + detail + ")" : std::string()));
}

namespace {

struct Handles {
  cublasHandle_t blas = nullptr;
  cudnnHandle_t dnn = nullptr;
  ~Handles() {
    if (blas) (void)cublasDestroy(blas);
    if (dnn) (void)cudnnDestroy(dnn);
  }
};
Handles& handles() {
  thread_local Handles h;
  return h;
}

}  // namespace

// A context that names no stream (every trainer's and simulator's) runs on the compute stream, which a CUDA
// graph can record.
cudaStream_t stream_of(const ExecContext& ctx) {
  return ctx.stream ? static_cast<cudaStream_t>(ctx.stream) : compute_stream();
}

cublasHandle_t cublas(const ExecContext& ctx) {
  Handles& h = handles();
  if (!h.blas) {
    check_cublas(cublasCreate(&h.blas), "cuda", "cublasCreate");
    // Plain fp32 unless a run asks for TF32: the kernels are checked against the reference at its tolerance.
    check_cublas(cublasSetMathMode(h.blas, CUBLAS_DEFAULT_MATH), "cuda", "cublasSetMathMode");
  }
  check_cublas(cublasSetStream(h.blas, stream_of(ctx)), "cuda", "cublasSetStream");
  return h.blas;
}

cudnnHandle_t cudnn(const ExecContext& ctx) {
  Handles& h = handles();
  if (!h.dnn) check_cudnn(cudnnCreate(&h.dnn), "cuda", "cudnnCreate");
  check_cudnn(cudnnSetStream(h.dnn, stream_of(ctx)), "cuda", "cudnnSetStream");
  return h.dnn;
}

}  // namespace sf::cuda
