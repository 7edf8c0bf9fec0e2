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

// cuBLAS's own workspace: 32 MiB, what NVIDIA's cuBLAS guide recommends for Hopper (4 MiB elsewhere). Set
// explicitly, so that a recorded step (core/capture.h) holds a fixed buffer rather than one cuBLAS would
// allocate from its pool while recording (cublasSetStream resets the handle to that pool).
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

struct Handles {
  cublasHandle_t blas = nullptr;
  cudnnHandle_t dnn = nullptr;
  void* blas_workspace = nullptr;
  ~Handles() {
    if (blas) (void)cublasDestroy(blas);
    if (dnn) (void)cudnnDestroy(dnn);
    if (blas_workspace && cudaFree(blas_workspace) != cudaSuccess) (void)cudaGetLastError();
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
  if (!h.blas_workspace) {  // apart from the handle, so that a failed allocation is tried again, not skipped
    if (const cudaError_t st = cudaMalloc(&h.blas_workspace, kCublasWorkspaceBytes); st != cudaSuccess) {
      h.blas_workspace = nullptr;
      (void)cudaGetLastError();
      if (st == cudaErrorMemoryAllocation) throw OutOfMemory("out of GPU memory allocating cuBLAS's 32 MiB workspace");
      fail(st, "cudaMalloc of cuBLAS's workspace");
    }
  }
  check_cublas(cublasSetStream(h.blas, stream_of(ctx)), "cuda", "cublasSetStream");
  check_cublas(cublasSetWorkspace(h.blas, h.blas_workspace, kCublasWorkspaceBytes), "cuda", "cublasSetWorkspace");
  return h.blas;
}

cudnnHandle_t cudnn(const ExecContext& ctx) {
  Handles& h = handles();
  if (!h.dnn) check_cudnn(cudnnCreate(&h.dnn), "cuda", "cudnnCreate");
  check_cudnn(cudnnSetStream(h.dnn, stream_of(ctx)), "cuda", "cudnnSetStream");
  return h.dnn;
}

}  // namespace sf::cuda
