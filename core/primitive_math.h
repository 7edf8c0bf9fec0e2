// The per-element and per-row math of the device primitives (core/primitives.h), one function for the CPU
// loops and the CUDA kernels (core/hd.h).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/hd.h"

namespace sf {

SF_HD inline int64_t first_argmax(const float* row, int64_t k) {
  int64_t best = 0;
  for (int64_t j = 1; j < k; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

// Whether the target class (the target row's first maximum) ranks among the `top` largest logits, ties going
// to the lower index. A NaN logit is no prediction.
SF_HD inline bool target_in_top_k(const float* logits, const float* targets, int64_t k, int64_t top) {
  const int64_t t = first_argmax(targets, k);
  if (logits[t] != logits[t]) return false;  // NaN (isnan is std:: on the host, global on the device)
  int64_t rank = 0;                          // classes ahead of the target
  for (int64_t j = 0; j < k && rank < top; ++j) rank += logits[j] > logits[t] || (logits[j] == logits[t] && j < t);
  return rank < top;
}

// std::clamp's rule, NaN kept (fminf/fmaxf would turn it into lo): clipping must not hide a diverged weight.
SF_HD inline float clamp_value(float x, float lo, float hi) { return x < lo ? lo : (hi < x ? hi : x); }

// Keras kernel regularisers: the penalty of one weight, and its gradient.
SF_HD inline double weight_penalty_of(float w, double l1, double l2) {
  return l1 * fabs(double(w)) + l2 * double(w) * w;
}
SF_HD inline float weight_penalty_grad(float w, float l1, float l2) {
  return l1 * static_cast<float>((w > 0) - (w < 0)) + 2.0f * l2 * w;
}

}  // namespace sf
