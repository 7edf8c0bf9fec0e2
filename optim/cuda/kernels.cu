// The optimisers on the GPU: one fused element-wise kernel per update, on the compute stream (as the ops and
// primitives), each element by optim/update_math.h, the CPU's own code.
#include "core/cuda/elementwise.cuh"
#include "core/cuda/stream.h"
#include "optim/kernels.h"
#include "optim/update_math.h"

namespace sf {
namespace {

// `skip` and the rate are read on the device by every thread (a step marked non-finite is not applied), so the
// host never waits to learn whether to launch, and a recorded step replays with each step's rate.
void sgd(const double* skip, float* w, const float* g, float* v, int64_t n, float mu, const float* lr, bool nesterov) {
  cuda::launch_elementwise(
      n, cuda::compute_stream(),
      [=] __device__(int64_t i) {
        if (!skip || *skip == 0) sgd_update(w[i], g[i], v[i], mu, *lr, nesterov);
      },
      "sgd update");
}
void adam(const double* skip, float* w, const float* g, float* m, float* v, int64_t n, float b1, float b2, float eps,
          const float* lr_t) {
  cuda::launch_elementwise(
      n, cuda::compute_stream(),
      [=] __device__(int64_t i) {
        if (!skip || *skip == 0) adam_update(w[i], g[i], m[i], v[i], b1, b2, eps, *lr_t);
      },
      "adam update");
}
void adadelta(const double* skip, float* w, const float* g, float* a, float* d, int64_t n, float rho, float eps,
              const float* lr) {
  cuda::launch_elementwise(
      n, cuda::compute_stream(),
      [=] __device__(int64_t i) {
        if (!skip || *skip == 0) adadelta_update(w[i], g[i], a[i], d[i], rho, eps, *lr);
      },
      "adadelta update");
}

const OptimKernels kCuda = {sgd, adam, adadelta};

}  // namespace

const OptimKernels& cuda_optim_kernels() { return kCuda; }

}  // namespace sf
