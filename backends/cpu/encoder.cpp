#include "backends/cpu/encoder.h"

#include <algorithm>
#include <cmath>

namespace sf::cpu {

void InputTrains::generate(const float* pixels, int64_t n, const snn::Encoder& enc, double dt_ms, int steps,
                           Rng& rng) {
  scratch_.clear();
  const double per_step = enc.max_rate_hz * dt_ms / 1000.0;
  for (int64_t i = 0; i < n; ++i) {
    const double p = std::clamp(static_cast<double>(pixels[i]), 0.0, 1.0) * per_step;
    if (!(p > 0)) continue;
    const auto pixel = static_cast<int32_t>(i);
    if (enc.kind == snn::InputEncoding::regular) {
      for (int64_t k = 1;; ++k) {
        const auto s = static_cast<int64_t>(std::ceil(static_cast<double>(k) / p - 1e-9)) - 1;
        if (s >= steps) break;
        scratch_.emplace_back(static_cast<int32_t>(s), pixel);
      }
    } else if (p >= 1.0) {
      for (int s = 0; s < steps; ++s) scratch_.emplace_back(s, pixel);
    } else {
      // Failures before the next success of a Bernoulli(p) per step: floor(ln U / ln(1 − p)), U ∈ (0, 1].
      const double inv_log_q = 1.0 / std::log1p(-p);
      for (double s = -1;;) {
        s += 1.0 + std::floor(std::log(1.0 - rng.uniform()) * inv_log_q);
        if (s >= steps) break;
        scratch_.emplace_back(static_cast<int32_t>(s), pixel);
      }
    }
  }
  // Counting sort by step; pixels stay in ascending order within a step.
  offsets_.assign(static_cast<size_t>(steps) + 1, 0);
  for (const auto& [s, px] : scratch_) ++offsets_[s + 1];
  for (int s = 0; s < steps; ++s) offsets_[s + 1] += offsets_[s];
  pixels_.resize(scratch_.size());
  std::vector<int32_t> fill(offsets_.begin(), offsets_.end() - 1);
  for (const auto& [s, px] : scratch_) pixels_[fill[s]++] = px;
}

}  // namespace sf::cpu
