// Keyed random streams (core/rng.h): distinct keys give unrelated streams, equal keys equal ones.
#include <gtest/gtest.h>

#include <bit>
#include <set>
#include <vector>

#include "core/rng.h"
#include "datasets/dataset.h"

namespace sf {
namespace {

std::vector<uint64_t> draws(Rng r, int n = 8) {
  std::vector<uint64_t> v;
  for (int i = 0; i < n; ++i) v.push_back(r.next());
  return v;
}

constexpr Stream kAll[] = {Stream::init,      Stream::shuffle,   Stream::augment,
                           Stream::dropout,   Stream::sgd_noise, Stream::poisson_input};

// The bug this replaces: Rng(seed + epoch) made seed N's epoch e+1 seed N+1's epoch e.
TEST(RngStreamTest, NextEpochIsNotTheNextSeed) {
  for (uint64_t n : {0ULL, 1ULL, 7ULL, 41ULL, ~0ULL - 1})
    for (uint64_t e : {0ULL, 1ULL, 2ULL, 99ULL}) {
      EXPECT_NE(stream_seed(n, Stream::shuffle, e + 1), stream_seed(n + 1, Stream::shuffle, e));
      EXPECT_NE(draws(Rng::for_stream(n, Stream::shuffle, e + 1)), draws(Rng::for_stream(n + 1, Stream::shuffle, e)));
    }
}

// ... and Rng(seed) was both the initial weights and epoch 0's shuffle.
TEST(RngStreamTest, InitOfNextSeedIsNotThisSeedsShuffle) {
  for (uint64_t n = 0; n < 50; ++n)
    for (uint64_t e = 0; e < 5; ++e) {
      EXPECT_NE(stream_seed(n + 1, Stream::init), stream_seed(n, Stream::shuffle, e));
      EXPECT_NE(stream_seed(n, Stream::init), stream_seed(n, Stream::shuffle, e));
    }
}

TEST(RngStreamTest, SameKeySameNumbers) {
  EXPECT_EQ(draws(Rng::for_stream(3, Stream::augment, 2, 17, 1), 100),
            draws(Rng::for_stream(3, Stream::augment, 2, 17, 1), 100));
  EXPECT_EQ(draws(Rng::for_stream(5, Stream::init)), draws(Rng(stream_seed(5, Stream::init))));
  // Pinned: every result of every run depends on these bits, on every platform; a change must be deliberate.
  // (Values checked against an independent Python transcription of stream_seed.)
  static_assert(stream_seed(1, Stream::shuffle) == stream_seed(1, Stream::shuffle, 0, 0, 0));
  EXPECT_EQ(stream_seed(1, Stream::init), 0x6a46bdf3ae2746e1ULL);
  EXPECT_EQ(stream_seed(1, Stream::shuffle, 3), 0xdf783540351544b2ULL);
  EXPECT_EQ(stream_seed(2, Stream::augment, 4, 5, 6), 0x16d98446ba44ced6ULL);
}

// No two keys in a dense grid of nearby inputs share a seed.
TEST(RngStreamTest, NearbyKeysAreDistinct) {
  std::set<uint64_t> seen;
  size_t keys = 0;
  for (uint64_t seed = 0; seed < 8; ++seed)
    for (Stream s : kAll)
      for (uint64_t e = 0; e < 8; ++e)
        for (uint64_t i = 0; i < 8; ++i)
          for (uint64_t sub = 0; sub < 3; ++sub, ++keys) seen.insert(stream_seed(seed, s, e, i, sub));
  EXPECT_EQ(seen.size(), keys);
}

// Avalanche: flipping one bit of any key word flips about half of the 64 output bits, so nearby keys give
// unrelated streams rather than shifted copies.
TEST(RngStreamTest, OneBitOfAnyWordFlipsHalfTheOutput) {
  auto key = [](int word, uint64_t flip) {
    uint64_t w[5] = {12345, static_cast<uint64_t>(Stream::augment), 3, 1000, 2};
    w[word] ^= flip;
    return stream_seed(w[0], static_cast<Stream>(w[1]), w[2], w[3], w[4]);
  };
  for (int word = 0; word < 5; ++word) {
    double total = 0;
    int worst = 64, best = 0;
    for (int bit = 0; bit < 64; ++bit) {
      const int changed = std::popcount(key(word, 0) ^ key(word, 1ULL << bit));
      total += changed;
      worst = std::min(worst, changed);
      best = std::max(best, changed);
    }
    EXPECT_NEAR(total / 64, 32.0, 2.0) << "word " << word;
    EXPECT_GT(worst, 14) << "word " << word;
    EXPECT_LT(best, 50) << "word " << word;
  }
}

TEST(RngStreamTest, EpochOrderFollowsTheShuffleStream) {
  const auto a = epoch_order(100, true, 7, 1), b = epoch_order(100, true, 8, 0);
  EXPECT_NE(a, b);  // seed 7's epoch 1 is not seed 8's epoch 0 any more
  EXPECT_EQ(a, epoch_order(100, true, 7, 1));
  std::vector<int64_t> expect(100);
  for (int64_t i = 0; i < 100; ++i) expect[static_cast<size_t>(i)] = i;
  std::vector<int64_t> manual = expect;
  Rng::for_stream(7, Stream::shuffle, 1).shuffle(manual.begin(), manual.end());
  EXPECT_EQ(a, manual);
  EXPECT_EQ(epoch_order(100, false, 7, 1), expect);
}

// The saved state (words and the spare normal) continues the stream exactly, also between the polar
// method's pair of normals.
TEST(RngStreamTest, StateRoundTripContinuesTheStream) {
  Rng a = Rng::for_stream(7, Stream::sgd_noise);
  a.normal();  // leaves a spare
  const Rng::State st = a.state();
  EXPECT_TRUE(st.has_spare);
  std::vector<double> expect, got;
  for (int i = 0; i < 9; ++i) expect.push_back(a.normal());
  Rng b(12345);
  b.set_state(st);
  EXPECT_EQ(b.state(), st);
  for (int i = 0; i < 9; ++i) got.push_back(b.normal());
  EXPECT_EQ(got, expect);
}

}  // namespace
}  // namespace sf
