// The CPU update loops. Each is one pass over the parameter; the element-wise order of operations is the
// same as Keras 2's, so a CPU run and the reference formulas agree to the last bit.
#include <cmath>
#include <string>

#include "core/error.h"
#include "optim/kernels.h"

namespace sf {
namespace {

void sgd(float* w, const float* g, float* v, int64_t n, float mu, float lr, bool nesterov) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    v[i] = mu * v[i] - lr * g[i];
    w[i] += nesterov ? mu * v[i] - lr * g[i] : v[i];
  }
}

void adam(float* w, const float* g, float* m, float* v, int64_t n, float b1, float b2, float eps, float lr_t) {
  for (int64_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1.0f - b1) * g[i];
    v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
  }
}

void adadelta(float* w, const float* g, float* a, float* d, int64_t n, float rho, float eps, float lr) {
  for (int64_t i = 0; i < n; ++i) {
    a[i] = rho * a[i] + (1.0f - rho) * g[i] * g[i];
    const float u = g[i] * std::sqrt(d[i] + eps) / std::sqrt(a[i] + eps);
    w[i] -= lr * u;
    d[i] = rho * d[i] + (1.0f - rho) * u * u;
  }
}

const OptimKernels kCpu = {sgd, adam, adadelta};

const OptimKernels*& slot(Device d) {
  static const OptimKernels* tables[] = {&kCpu, nullptr};
  return tables[static_cast<int>(d)];
}

}  // namespace

const OptimKernels& optim_kernels(Device device) {
  if (!slot(device)) fail_internal("no optimiser kernels for " + std::string(to_string(device)) + " in this build");
  return *slot(device);
}

void register_optim_kernels(Device device, const OptimKernels* table) { slot(device) = table; }

}  // namespace sf
