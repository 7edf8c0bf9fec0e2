// Offsets for buffers of known lifetimes in one arena. Each buffer gets the lowest offset at which it overlaps,
// in memory, no already placed buffer whose lifetime overlaps its own, the largest placed first: the "greedy by
// size" strategy of TFLite's arena planner (Pisarchyk & Lee 2020, "Efficient memory management for deep neural
// net inference"), which is within a few percent of the lower bound on feed-forward nets. It is written here
// because no library we use offers it (oneDNN plans only a primitive's own scratchpad) and it is 30 lines.
#pragma once
#include <cstdint>
#include <vector>

namespace sf {

struct BufferLife {
  int64_t floats = 0;  // size, rounded up to the alignment by the caller
  int first = 0;       // first and last step the buffer is live, inclusive
  int last = 0;
};

struct ArenaPlan {
  std::vector<int64_t> offsets;  // per buffer, in floats, multiples of `align`
  int64_t floats = 0;            // the arena's size
  int64_t peak_live = 0;         // the most floats live at one step: the lower bound on `floats`
};

ArenaPlan plan_arena(const std::vector<BufferLife>& buffers, int64_t align);

}  // namespace sf
