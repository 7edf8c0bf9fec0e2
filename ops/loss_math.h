// One sample's loss and its gradient (ops/loss.h has the formulas), shared by the CPU loops and the CUDA
// kernels (core/hd.h).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/hd.h"

namespace sf {

SF_HD inline double squared_error(const float* y, const float* t, int64_t k) {
  double acc = 0.0;
  for (int64_t j = 0; j < k; ++j) acc += double(y[j] - t[j]) * (y[j] - t[j]);
  return acc;
}

// −Σ t log softmax(y), with log softmax = y − max − log Σ exp(y − max) for stability.
SF_HD inline double cross_entropy(const float* y, const float* t, int64_t k) {
  float m = y[0];
  for (int64_t j = 1; j < k; ++j) m = std::max(m, y[j]);
  double z = 0.0;
  for (int64_t j = 0; j < k; ++j) z += std::exp(double(y[j] - m));
  const double log_z = std::log(z) + m;
  double acc = 0.0;
  for (int64_t j = 0; j < k; ++j) acc -= t[j] * (y[j] - log_z);
  return acc;
}

// d ← scale · dL/dy of one sample: softmax(y)·Σt − t (softmax(y) − t for one-hot or normalised targets), or
// 2 (y − t) for the squared error.
SF_HD inline void loss_gradient(bool softmax, const float* y, const float* t, int64_t k, float scale, float* d) {
  if (softmax) {
    float m = y[0];
    for (int64_t j = 1; j < k; ++j) m = std::max(m, y[j]);
    float z = 0.0f;
    for (int64_t j = 0; j < k; ++j) z += (d[j] = std::exp(y[j] - m));
    float tsum = 0.0f;
    for (int64_t j = 0; j < k; ++j) tsum += t[j];
    for (int64_t j = 0; j < k; ++j) d[j] = (d[j] / z * tsum - t[j]) * scale;
  } else {
    for (int64_t j = 0; j < k; ++j) d[j] = 2.0f * (y[j] - t[j]) * scale;
  }
}

}  // namespace sf
