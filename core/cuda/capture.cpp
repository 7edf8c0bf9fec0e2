// CUDA graphs of the compute stream's work (core/capture.h).
#include "core/capture.h"

#include <string>

#include "core/cuda/check.h"
#include "core/cuda/stream.h"

namespace sf::cuda {

cudaStream_t compute_stream() {
  static const cudaStream_t stream = [] {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamDefault), "creating the compute stream");
    return s;
  }();
  return stream;
}

bool capturing() {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(compute_stream(), &status), "cudaStreamIsCapturing");
  return status != cudaStreamCaptureStatusNone;
}

namespace {

std::string reason(cudaError_t status) {
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

class CudaGraph final : public CapturedWork {
 public:
  explicit CudaGraph(cudaGraphExec_t exec) : exec_(exec) {}
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  ~CudaGraph() override {
    if (cudaGraphExecDestroy(exec_) != cudaSuccess) (void)cudaGetLastError();
  }
  void replay() override { check(cudaGraphLaunch(exec_, compute_stream()), "cudaGraphLaunch (a training step)"); }

 private:
  cudaGraphExec_t exec_;
};

// Thread-local mode: a call from this thread that a graph cannot hold (cudaMalloc, a synchronising copy)
// fails instead of running, and so does any work that joins the legacy stream; check() turns the failure
// into an exception, and the capture reports what it said.
std::unique_ptr<CapturedWork> capture(const std::function<void()>& work) {
  const cudaStream_t s = compute_stream();
  if (const cudaError_t st = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal); st != cudaSuccess) {
    (void)cudaGetLastError();
    throw CaptureFailed("cudaStreamBeginCapture: " + reason(st));
  }
  std::string failed;
  try {
    work();
  } catch (const std::exception& e) {
    failed = e.what();
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(s, &graph);  // ends it whatever happened, so the stream is usable
  if (ended != cudaSuccess) (void)cudaGetLastError();
  if (failed.empty() && ended != cudaSuccess) failed = "cudaStreamEndCapture: " + reason(ended);
  cudaGraphExec_t exec = nullptr;
  if (failed.empty())
    if (const cudaError_t st = cudaGraphInstantiate(&exec, graph, 0); st != cudaSuccess) {
      (void)cudaGetLastError();
      failed = "cudaGraphInstantiate: " + reason(st);
    }
  if (graph && cudaGraphDestroy(graph) != cudaSuccess) (void)cudaGetLastError();
  if (!failed.empty()) throw CaptureFailed(failed);
  return std::make_unique<CudaGraph>(exec);
}

}  // namespace

void register_capture() { register_capturer(Device::cuda, capture); }

}  // namespace sf::cuda
