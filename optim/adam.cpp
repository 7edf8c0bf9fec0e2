#include <cmath>

#include "optim/optimizer.h"

namespace sf {

void Adam::update(size_t k, float* w, const float* g, int64_t n, float lr) {
  const double t = static_cast<double>(iterations_ + 1);
  const float b1 = static_cast<float>(spec_.beta1), b2 = static_cast<float>(spec_.beta2);
  const float eps = static_cast<float>(spec_.epsilon);
  const float lr_t =
      static_cast<float>(lr * std::sqrt(1.0 - std::pow(spec_.beta2, t)) / (1.0 - std::pow(spec_.beta1, t)));
  float* m = state(k, 0);
  float* v = state(k, 1);
  for (int64_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1.0f - b1) * g[i];
    v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
  }
}

}  // namespace sf
