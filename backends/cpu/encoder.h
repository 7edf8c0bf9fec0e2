// Input spike trains of one image, generated up front and bucketed by step, so that the work is
// proportional to the spikes rather than to pixels × steps (most MNIST pixels are 0).
//   poisson: per pixel a Bernoulli process with p = pixel · max_rate · dt per step, drawn as geometric gaps
//            (exactly the per-step coin flips, one random number per spike instead of one per step);
//   regular: the k-th spike of a pixel at the first step s with (s + 1)·p ≥ k (a phase accumulator).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "backends/snn/network.h"
#include "core/rng.h"

namespace sf::cpu {

// The random stream of image i's Poisson input: keyed on (seed, i) so that a run does not depend on the thread
// count, and the SpiNNaker export writes exactly the spikes the CPU simulator used.
inline uint64_t image_stream_seed(uint64_t seed, int64_t image) {
  return stream_seed(seed, Stream::poisson_input, 0, static_cast<uint64_t>(image));
}

class InputTrains {
 public:
  // pixels: n values in [0, 1] (flat C, H, W); indices in the trains are those flat indices.
  void generate(const float* pixels, int64_t n, const snn::Encoder& enc, double dt_ms, int steps, Rng& rng);
  std::span<const int32_t> at(int step) const {
    return {pixels_.data() + offsets_[step], pixels_.data() + offsets_[step + 1]};
  }
  int64_t total() const { return static_cast<int64_t>(pixels_.size()); }

 private:
  std::vector<int32_t> offsets_, pixels_;
  std::vector<std::pair<int32_t, int32_t>> scratch_;  // (step, pixel) before bucketing
};

}  // namespace sf::cpu
