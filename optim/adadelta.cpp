#include <cmath>

#include "optim/optimizer.h"

namespace sf {

void Adadelta::update(size_t k, float* w, const float* g, int64_t n, float lr) {
  const float rho = static_cast<float>(spec_.rho), eps = static_cast<float>(spec_.epsilon);
  float* a = state(k, 0);  // running mean of g²
  float* d = state(k, 1);  // running mean of update²
  for (int64_t i = 0; i < n; ++i) {
    a[i] = rho * a[i] + (1.0f - rho) * g[i] * g[i];
    const float u = g[i] * std::sqrt(d[i] + eps) / std::sqrt(a[i] + eps);
    w[i] -= lr * u;
    d[i] = rho * d[i] + (1.0f - rho) * u * u;
  }
}

}  // namespace sf
