// Seeded random numbers that are identical on every platform and standard library: xoshiro256**
// seeded through splitmix64, with our own uniform/normal/shuffle (std::uniform_real_distribution and
// std::shuffle are implementation-defined, which would break "same seed → same history" across machines).
// Every random stream of a run is keyed by hashing (seed, purpose, epoch, index) — never by arithmetic on the
// seed, which made seed N's epoch 2 seed N+1's epoch 1, and seed N+1's initial weights seed N's shuffle.
#pragma once
#include <cmath>
#include <cstdint>
#include <utility>

namespace sf {

// What a stream is for. The values are part of every run's history: append new purposes, never renumber.
enum class Stream : uint64_t {
  init = 1,           // initial weights (models/zoo.cpp)
  shuffle = 2,        // per-epoch sample order (index unused)
  augment = 3,        // per-sample augmentation; index = sample index, sub = the transform's position
  dropout = 4,        // a training step's op randomness (ExecContext::random_key); index = batch in epoch
  sgd_noise = 5,      // the noisy-SGD gradient noise (optim/sgd.cpp)
  poisson_input = 6,  // Poisson input spikes; index = image index (backends/cpu/encoder.h)
  poisson_counter = 7,  // the batched (GPU) simulator's Philox key for Poisson input (backends/batched/snn_math.h)
};

// SplitMix64's finaliser: a bijection on 64 bits with full avalanche (each input bit flips each output bit with
// probability about 1/2).
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The seed of one stream. Each word is absorbed as h ← mix64(h ^ mix64(word + c_k)) with a distinct odd constant
// per position: for a fixed prefix this is a bijection of the word, so keys that differ in exactly one word
// never collide, and any other pair collides only by 64-bit chance. The words are mixed before they are
// combined, so nearby keys ((N, e+1) vs (N+1, e)) give unrelated seeds.
constexpr uint64_t stream_seed(uint64_t seed, Stream purpose, uint64_t epoch = 0, uint64_t index = 0,
                               uint64_t sub = 0) {
  constexpr uint64_t c[5] = {0x9e3779b97f4a7c15ULL, 0xd1b54a32d192ed03ULL, 0xabc98388fb8fac03ULL, 0x8cb92ba72f3d8dd7ULL,
                             0xc13fa9a902a6328fULL};
  const uint64_t words[5] = {seed, static_cast<uint64_t>(purpose), epoch, index, sub};
  uint64_t h = 0x243f6a8885a308d3ULL;  // π's fraction bits: any fixed non-zero start
  for (int k = 0; k < 5; ++k) h = mix64(h ^ mix64(words[k] + c[k]));
  return h;
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  // The generator of one keyed stream (see stream_seed).
  static Rng for_stream(uint64_t seed, Stream purpose, uint64_t epoch = 0, uint64_t index = 0, uint64_t sub = 0) {
    return Rng(stream_seed(seed, purpose, epoch, index, sub));
  }

  // The generator's whole position (xoshiro words and the polar method's spare normal), so a sequential
  // stream (the noisy-SGD noise) can be saved in a resume checkpoint and continued exactly.
  struct State {
    uint64_t words[4] = {};
    bool has_spare = false;
    double spare = 0.0;
    bool operator==(const State&) const = default;
  };
  State state() const {
    State st{{s_[0], s_[1], s_[2], s_[3]}, has_spare_, spare_};
    return st;
  }
  void set_state(const State& st) {
    for (int i = 0; i < 4; ++i) s_[i] = st.words[i];
    has_spare_ = st.has_spare;
    spare_ = st.spare;
  }

  void reseed(uint64_t seed) {
    for (auto& s : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
    has_spare_ = false;
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  // Unbiased integer in [0, n) (Lemire's multiply-shift with rejection).
  uint64_t below(uint64_t n) {
    __uint128_t m = static_cast<__uint128_t>(next()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = -n % n;
      while (low < threshold) {
        m = static_cast<__uint128_t>(next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // Standard normal (Marsaglia polar method).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, s;
    do {
      u = uniform(-1.0, 1.0);
      v = uniform(-1.0, 1.0);
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }

  // Fisher-Yates over any random-access range.
  template <class It>
  void shuffle(It first, It last) {
    for (auto n = last - first; n > 1; --n) std::swap(first[n - 1], first[below(static_cast<uint64_t>(n))]);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace sf
