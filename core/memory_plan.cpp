#include "core/memory_plan.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "core/error.h"

namespace sf {

ArenaPlan plan_arena(const std::vector<BufferLife>& buffers, int64_t align) {
  if (align <= 0) fail_internal("plan_arena: alignment must be positive");
  const size_t n = buffers.size();
  ArenaPlan plan;
  plan.offsets.assign(n, 0);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return buffers[a].floats > buffers[b].floats; });
  std::vector<size_t> placed, overlapping;
  for (size_t b : order) {
    const BufferLife& me = buffers[b];
    if (me.floats < 0 || me.last < me.first) fail_internal("plan_arena: a buffer with a negative size or lifetime");
    overlapping.clear();
    for (size_t p : placed)
      if (buffers[p].first <= me.last && me.first <= buffers[p].last) overlapping.push_back(p);
    std::sort(overlapping.begin(), overlapping.end(),
              [&](size_t a, size_t c) { return plan.offsets[a] < plan.offsets[c]; });
    // The first gap, in offset order, that holds the buffer.
    const auto aligned = [align](int64_t x) { return (x + align - 1) / align * align; };
    int64_t at = 0;
    for (size_t p : overlapping) {
      if (at + me.floats <= plan.offsets[p]) break;
      at = std::max(at, aligned(plan.offsets[p] + buffers[p].floats));
    }
    plan.offsets[b] = at;
    plan.floats = std::max(plan.floats, at + me.floats);
    placed.push_back(b);
  }
  // The live total at each step changes only where a buffer starts.
  std::map<int, int64_t> delta;
  for (const BufferLife& b : buffers) delta[b.first] += b.floats, delta[b.last + 1] -= b.floats;
  int64_t live = 0;
  for (const auto& [step, d] : delta) plan.peak_live = std::max(plan.peak_live, live += d);
  return plan;
}

}  // namespace sf
