// One element of each optimiser's update (optim/kernels.h has the rules), shared by the CPU loops and the CUDA
// kernels (core/hd.h). The order of operations is Keras 2's, so a CPU run and the reference formulas agree to
// the last bit.
#pragma once
#include <cmath>

#include "core/hd.h"

namespace sf {

SF_HD inline void sgd_update(float& w, float g, float& v, float mu, float lr, bool nesterov) {
  v = mu * v - lr * g;
  w += nesterov ? mu * v - lr * g : v;
}

SF_HD inline void adam_update(float& w, float g, float& m, float& v, float b1, float b2, float eps, float lr_t) {
  m = b1 * m + (1.0f - b1) * g;
  v = b2 * v + (1.0f - b2) * g * g;
  w -= lr_t * m / (std::sqrt(v) + eps);
}

SF_HD inline void adadelta_update(float& w, float g, float& a, float& d, float rho, float eps, float lr) {
  a = rho * a + (1.0f - rho) * g * g;
  const float u = g * std::sqrt(d + eps) / std::sqrt(a + eps);
  w -= lr * u;
  d = rho * d + (1.0f - rho) * u * u;
}

}  // namespace sf
