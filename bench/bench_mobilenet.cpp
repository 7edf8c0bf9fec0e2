// MobileNet v1 training throughput through the real training path (Trainer::fit: loader, graph, loss,
// backward, SGD with momentum), on random 3-channel images, batch 64, softmax cross-entropy, BN in train mode.
// bench/mobilenet_vs_pytorch.sh runs these beside the same net in PyTorch.
//   MobileNetTrain/<alpha·100>/<size>/<batch>/<channels_last?>/<batch_split?>
// Napkin math. A training step costs ≈ 3× the forward MACs (forward, backward data, backward weights), 2 FLOPs
// per MAC; 95 % of them are 1×1 convolutions, i.e. GEMMs, so the machine's fp32 peak is what oneDNN's sgemm
// reaches on 2048³ with the same threads (SgemmPeak, measured in the same run). Counters: `GFLOPs` achieved
// and `peak` = GFLOPs / sgemm GFLOP/s.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "bench/mobilenet_case.h"

namespace {

// oneDNN sgemm 2048³, best of 3, in GFLOP/s: the fp32 peak that GEMM-bound work can reach here.
double sgemm_gflops() {
  static const double peak = [] {
    const int64_t n = 2048;
    std::vector<float> a(n * n, 1.0f), b(n * n, 0.5f), c(n * n);
    double best = 0;
    for (int rep = 0; rep < 4; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rep) best = std::max(best, 2.0 * n * n * n / s * 1e-9);  // the first call JIT-compiles
    }
    return best;
  }();
  return peak;
}

void SgemmPeak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(sgemm_gflops());
  state.counters["GFLOPs"] = sgemm_gflops();
}
BENCHMARK(SgemmPeak)->Iterations(1);

void MobileNetTrain(benchmark::State& state) {
  const int64_t size = state.range(1), batch = state.range(2);
  const sf::ModelSpec spec = sf::bench::mobilenet_spec(state.range(0), size, state.range(3) != 0);
  sf::Model model = sf::build_model(spec, 1);
  const int64_t steps = size > 32 ? 2 : 10;
  const sf::Dataset data = sf::bench::random_images(spec, steps * batch);
  sf::TrainSpec t = sf::bench::one_epoch(batch);
  // split 1: a shard of the batch per thread (their batch norms exchanging statistics); 0: one graph whose ops
  // use the threads (train/parallel.h).
  t.parallel = state.range(4) ? "batch_split" : "op_parallel";
  sf::Trainer trainer(model, t, sf::Device::cpu, 1);
  trainer.fit(data, nullptr);  // warm-up: primitives created, caches and page tables warm

  double seconds = 0;
  for (auto _ : state) {
    const auto h = trainer.fit(data, nullptr);
    seconds += h.at(0).train_seconds;
    state.SetIterationTime(h.at(0).train_seconds);
  }
  const double images = static_cast<double>(state.iterations() * steps * batch);
  const double gflops = 3.0 * 2.0 * static_cast<double>(model.macs()) * images / seconds * 1e-9;
  state.counters["images_per_s"] = images / seconds;
  state.counters["GFLOPs"] = gflops;
  state.counters["peak"] = gflops / sgemm_gflops();
  state.counters["threads"] = omp_get_max_threads();
}
BENCHMARK(MobileNetTrain)
    ->ArgNames({"alpha", "size", "batch", "nhwc", "split"})
    ->Args({100, 32, 64, 1, 1})
    ->Args({100, 32, 64, 1, 0})
    ->Args({50, 32, 64, 1, 1})
    ->Args({50, 32, 64, 1, 0})
    ->Args({100, 32, 64, 0, 0})
    ->Args({100, 224, 16, 1, 1})
    ->Args({100, 224, 16, 1, 0})
    ->UseManualTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

}  // namespace
