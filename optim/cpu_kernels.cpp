// The CPU update loops: one pass over the parameter, each element by optim/update_math.h.
#include <string>

#include "core/error.h"
#include "optim/kernels.h"
#include "optim/update_math.h"

namespace sf {
namespace {

bool skipped(const double* skip) { return skip && *skip != 0; }

void sgd(const double* skip, float* w, const float* g, float* v, int64_t n, float mu, const float* rate,
         bool nesterov) {
  if (skipped(skip)) return;
  const float lr = *rate;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) sgd_update(w[i], g[i], v[i], mu, lr, nesterov);
}

void adam(const double* skip, float* w, const float* g, float* m, float* v, int64_t n, float b1, float b2, float eps,
          const float* rate) {
  if (skipped(skip)) return;
  const float lr_t = *rate;
  for (int64_t i = 0; i < n; ++i) adam_update(w[i], g[i], m[i], v[i], b1, b2, eps, lr_t);
}

void adadelta(const double* skip, float* w, const float* g, float* a, float* d, int64_t n, float rho, float eps,
              const float* rate) {
  if (skipped(skip)) return;
  const float lr = *rate;
  for (int64_t i = 0; i < n; ++i) adadelta_update(w[i], g[i], a[i], d[i], rho, eps, lr);
}

const OptimKernels kCpu = {sgd, adam, adadelta};

const OptimKernels*& slot(Device d) {
#if SPIKEFORGE_CUDA
  static const OptimKernels* tables[] = {&kCpu, &cuda_optim_kernels()};
#else
  static const OptimKernels* tables[] = {&kCpu, nullptr};
#endif
  return tables[static_cast<int>(d)];
}

}  // namespace

const OptimKernels& optim_kernels(Device device) {
  if (!slot(device)) fail_internal("no optimiser kernels for " + std::string(to_string(device)) + " in this build");
  return *slot(device);
}

void register_optim_kernels(Device device, const OptimKernels* table) { slot(device) = table; }

}  // namespace sf
