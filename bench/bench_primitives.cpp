// Device primitives on gradient-sized tensors: the Liu small net's 3,880 parameters (overhead-bound: what a
// step pays per call) and a MobileNet α = 1.0's 4.2 M (bandwidth-bound: what the gradient reduction and the
// optimiser glue cost there). The "bytes" counter is the memory traffic each call must make (axpy reads x and
// y and writes y: 12 bytes per element; sum reads 4), as a rate: compare it with the machine's memory
// bandwidth (≈ 10-20 GB/s per core on these machines) to read off the achieved fraction.
#include <benchmark/benchmark.h>

#include "core/primitives.h"
#include "core/rng.h"

namespace {

using sf::Tensor;

Tensor filled(int64_t n, uint64_t seed) {
  Tensor t({n});
  sf::Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) t[i] = static_cast<float>(rng.uniform(-1, 1));
  return t;
}

void report(benchmark::State& state, int64_t n, double bytes_per_element) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
  state.counters["bytes"] = benchmark::Counter(bytes_per_element * static_cast<double>(n) * state.iterations(),
                                               benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
}

void BM_Axpy(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor x = filled(n, 1);
  Tensor y = filled(n, 2);
  for (auto _ : state) {
    sf::axpy(1e-6f, x, y);
    benchmark::DoNotOptimize(y.raw());
  }
  report(state, n, 12);
}

void BM_Sum(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor x = filled(n, 3);
  for (auto _ : state) benchmark::DoNotOptimize(sf::sum(x));
  report(state, n, 4);
}

void BM_FirstNonFinite(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor x = filled(n, 4);
  for (auto _ : state) benchmark::DoNotOptimize(sf::first_non_finite(x));
  report(state, n, 4);
}

void BM_WeightPenalty(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor w = filled(n, 5);
  Tensor g = filled(n, 6);
  for (auto _ : state) benchmark::DoNotOptimize(sf::weight_penalty(w, &g, 1e-5, 1e-5));
  report(state, n, 12);
}

constexpr int64_t kLiu = 3880, kMobileNet = 4'200'000;
BENCHMARK(BM_Axpy)->Arg(kLiu)->Arg(kMobileNet)->UseRealTime();
BENCHMARK(BM_Sum)->Arg(kLiu)->Arg(kMobileNet)->UseRealTime();
BENCHMARK(BM_FirstNonFinite)->Arg(kLiu)->Arg(kMobileNet)->UseRealTime();
BENCHMARK(BM_WeightPenalty)->Arg(kLiu)->Arg(kMobileNet)->UseRealTime();

}  // namespace
