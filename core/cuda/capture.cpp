// CUDA graphs of the compute stream's work (core/capture.h).
#include "core/capture.h"

#include <exception>
#include <string>
#include <vector>

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

namespace {
thread_local bool recording = false;
thread_local std::vector<void*> deferred;
}  // namespace

bool capturing() { return recording; }
void free_after_capture(void* device_memory) { deferred.push_back(device_memory); }

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

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an exception of unknown type";
  }
}

// Thread-local mode: a call from this thread that a graph cannot hold (cudaMalloc, a synchronising copy)
// fails instead of running and spoils the recording, as does any work that joins the legacy stream; check()
// turns the failure into an exception. The allocators refuse first (capturing()), with their own reason. Any
// exception from `work` abandons the recording: a library may refuse a call while the stream records without
// saying so in the capture status, and an error of the step's own comes back when the caller runs it as it is.
std::unique_ptr<CapturedWork> capture(const std::function<void()>& work) {
  const cudaStream_t s = compute_stream();
  if (const cudaError_t st = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal); st != cudaSuccess) {
    (void)cudaGetLastError();
    throw CaptureFailed("cudaStreamBeginCapture: " + reason(st));
  }
  recording = true;
  bool ok = true;
  std::string failed;
  try {
    work();
  } catch (...) {
    ok = false;
    failed = what_of(std::current_exception());
  }
  recording = false;
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(s, &graph);  // ends it whatever happened, so the stream is usable
  if (ended != cudaSuccess) {
    (void)cudaGetLastError();
    if (ok) failed = "cudaStreamEndCapture: " + reason(ended);
    ok = false;
  }
  // A graph may hold the address of memory freed while it was recorded: such a recording is not kept.
  if (ok && !deferred.empty()) ok = false, failed = "device memory is freed during the step";
  for (void* p : deferred)
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
  deferred.clear();
  cudaGraphExec_t exec = nullptr;
  if (ok)
    if (const cudaError_t st = cudaGraphInstantiate(&exec, graph, 0); st != cudaSuccess) {
      (void)cudaGetLastError();
      ok = false, failed = "cudaGraphInstantiate: " + reason(st);
    }
  if (graph && cudaGraphDestroy(graph) != cudaSuccess) (void)cudaGetLastError();
  if (!ok) throw CaptureFailed(failed.empty() ? std::string("the recording failed") : failed);
  return std::make_unique<CudaGraph>(exec);
}

}  // namespace

void register_capture() { register_capturer(Device::cuda, capture); }

}  // namespace sf::cuda
