#include <cmath>

#include "optim/optimizer.h"

namespace sf {

void Sgd::update(size_t k, float* w, const float* g, int64_t n, float lr) {
  const float mu = static_cast<float>(spec_.momentum);
  float* v = state(k, 0);
  if (spec_.noise_std > 0) {
    const double sigma = spec_.noise_std / std::pow(1.0 + static_cast<double>(iterations_), spec_.noise_anneal / 2.0);
    for (int64_t i = 0; i < n; ++i) {
      const float gi = g[i] + static_cast<float>(sigma * rng_.normal());
      v[i] = mu * v[i] - lr * gi;
      w[i] += spec_.nesterov ? mu * v[i] - lr * gi : v[i];
    }
    return;
  }
  const bool nesterov = spec_.nesterov;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    v[i] = mu * v[i] - lr * g[i];
    w[i] += nesterov ? mu * v[i] - lr * g[i] : v[i];
  }
}

}  // namespace sf
