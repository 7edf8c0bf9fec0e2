// What data-based, robust and spike normalisation read from a layer's activations over the normalisation
// images, accumulated batch by batch: the largest value, the mean, and the p-th percentile of the positive
// values. Storing every activation (as snn_toolbox does) costs count × layer size floats — ≈ 0.5 GB for the
// large Liu net over 10k images, tens of GB for a MobileNet — while the percentile needs only the values above
// it: at most (1 − p/100) of them plus one, the largest ≈ 0.1 % for the default 99.9.
#pragma once
#include <cstdint>
#include <vector>

namespace sf::snn {

class ActivationSummary {
 public:
  // capacity: an upper bound on how many values add() will see (images × values per image).
  ActivationSummary(double percentile, int64_t capacity);

  void add(const float* values, int64_t n);

  int64_t count() const { return count_; }
  double max() const { return max_; }  // 0 when no value is positive
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  // The percentile of the positive values by nearest rank, exactly as positive_percentile() on all of them;
  // 0 when none is positive.
  double percentile() const;
  int64_t values_held() const { return static_cast<int64_t>(top_.size()); }

 private:
  void trim();

  double p_;
  int64_t keep_;           // how many of the largest positive values the percentile can need
  int64_t capacity_, count_ = 0, positives_ = 0;
  double max_ = 0.0, sum_ = 0.0;
  std::vector<float> top_;  // a superset of the keep_ largest positive values seen
};

}  // namespace sf::snn
