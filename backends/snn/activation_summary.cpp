#include "backends/snn/activation_summary.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/error.h"

namespace sf::snn {

ActivationSummary::ActivationSummary(double percentile, int64_t capacity) : p_(percentile), capacity_(capacity) {
  if (!(p_ > 0 && p_ <= 100)) fail_input("--percentile", "must be in (0, 100]");
  if (capacity < 0) fail_internal("ActivationSummary: negative capacity");
  // With n positives the nearest rank is r = ⌈p·n/100⌉ ≥ p·n/100, so the answer is the (n − r + 1)-th largest
  // and n − r + 1 ≤ (1 − p/100)·capacity + 1; one more absorbs rounding in p/100.
  keep_ = static_cast<int64_t>(std::floor((1.0 - p_ / 100.0) * static_cast<double>(capacity))) + 2;
  top_.reserve(static_cast<size_t>(std::min<int64_t>(2 * keep_, capacity) + 1));
}

void ActivationSummary::add(const float* values, int64_t n) {
  count_ += n;
  if (count_ > capacity_) fail_internal("ActivationSummary: more values than its capacity");
  for (int64_t i = 0; i < n; ++i) {
    const float v = values[i];
    sum_ += v;
    if (!(v > 0)) continue;
    ++positives_;
    max_ = std::max(max_, static_cast<double>(v));
    top_.push_back(v);
    if (static_cast<int64_t>(top_.size()) >= 2 * keep_) trim();
  }
}

// Keeps the keep_ largest: amortised O(1) per value, and at most 2·keep_ floats held.
void ActivationSummary::trim() {
  if (static_cast<int64_t>(top_.size()) <= keep_) return;
  std::nth_element(top_.begin(), top_.begin() + keep_ - 1, top_.end(), std::greater<float>());
  top_.resize(static_cast<size_t>(keep_));
}

double ActivationSummary::percentile() const {
  if (positives_ == 0) return 0.0;
  const auto rank = std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(p_ / 100.0 * static_cast<double>(positives_))), 1, positives_);
  const int64_t from_top = positives_ - rank;  // 0-based position among the values in descending order
  if (from_top >= static_cast<int64_t>(top_.size())) fail_internal("ActivationSummary: percentile fell off the kept values");
  std::vector<float> top = top_;
  std::nth_element(top.begin(), top.begin() + from_top, top.end(), std::greater<float>());
  return top[static_cast<size_t>(from_top)];
}

}  // namespace sf::snn
