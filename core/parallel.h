// parallel_for(n, grain, f): calls f(begin, end, slot) over [0, n), split across OpenMP threads only when
// that can pay off; slot ∈ [0, threads) is the caller's index into per-thread scratch. Measured on the Liu nets: an
// OpenMP region — even `parallel for if(false)`, or a nested one inside a data-parallel shard's thread — costs ≈ 4 µs
// and can stop the loop from vectorising, which is more than a 19,200-element activation takes. Small ranges, nested
// calls and one-thread runs therefore call f directly on the calling thread.
#pragma once
#include <omp.h>

#include <cstdint>

namespace sf {

struct Range {
  int64_t first = 0, count = 0;
};

// Part i of n items cut into `parts` contiguous parts, the first n % parts of them one longer. A training batch
// is cut this way into its shards (threads × ranks), so a process knows every other's share without asking.
constexpr Range shard_range(int64_t n, int64_t parts, int64_t i) {
  const int64_t base = n / parts, extra = n % parts;
  return {i * base + (i < extra ? i : extra), base + (i < extra ? 1 : 0)};
}

// Part i of n items handed out in whole runs of `unit` (the last run may be short): the items of
// shard_range(⌈n / unit⌉, parts, i) runs. Batches of evaluation and of a sharded simulation stay the batches
// one process would make.
constexpr Range unit_share(int64_t n, int64_t unit, int64_t parts, int64_t i) {
  const Range u = shard_range((n + unit - 1) / unit, parts, i);
  const int64_t first = u.first * unit < n ? u.first * unit : n, end = (u.first + u.count) * unit;
  return {first, (end < n ? end : n) - first};
}

template <class F>
inline void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n < grain || omp_in_parallel() || omp_get_max_threads() == 1) {
    f(int64_t{0}, n, 0);
    return;
  }
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    f(n * t / threads, n * (t + 1) / threads, static_cast<int>(t));
  }
}

}  // namespace sf
