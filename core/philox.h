// Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"), the counter-based
// generator cuRAND, PyTorch and JAX use on GPUs: a keyed bijection of a 128-bit counter, so any thread can
// draw the number of any (image, step, pixel) without state or order. Hand-written because cuRAND's
// device API is CUDA-only and the CPU tests and the CPU path must run the same function (core/hd.h);
// tests/test_batched_sim.cpp checks it against Random123's known-answer vectors.
#pragma once
#include <cstdint>

#include "core/hd.h"

namespace sf {

struct Philox4x32 {
  uint32_t v[4];
};

SF_HD inline void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// Ten rounds of the S-box with the key bumped by the Weyl constants between rounds.
SF_HD inline Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) key0 += kW0, key1 += kW1;
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kM0, ctr.v[0], hi0, lo0);
    philox_mulhilo(kM1, ctr.v[2], hi1, lo1);
    ctr = {{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
  }
  return ctr;
}

// A uniform in [0, 1) from the top 24 bits: every value is exact in float.
SF_HD inline float philox_uniform(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

}  // namespace sf
