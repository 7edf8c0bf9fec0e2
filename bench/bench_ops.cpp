// Per-layer kernel timings for the Liu et al. small net at batch 50 (the training batch):
//   conv1    1→6,  5x5 on 28x28, no bias     conv2  6→12, 5x5 on 12x12, no bias
//   pool1    avgpool 2x2/2 on [50,6,24,24]   fc     dense 192→10 with bias
// Forward and backward (data + weights) through the default CPU kernels (oneDNN); the reference conv is
// timed forward only, as the baseline. items_per_second is images/s; "FLOPs" is 2·MACs per second
// (pooling counts one op per window element). The kernels run on OpenMP threads, so every case is timed on
// the wall clock (UseRealTime): the main thread's CPU time would leave out the worker threads.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/rng.h"
#include "ops/registry.h"

namespace {

using sf::Shape;
using sf::Tensor;

constexpr int64_t kBatch = 50;

struct ConvLayer {
  int64_t c, h, w, o, k;
  int64_t oh() const { return h - k + 1; }
  int64_t ow() const { return w - k + 1; }
  double macs() const { return double(kBatch) * o * oh() * ow() * c * k * k; }
  Shape x() const { return {kBatch, c, h, w}; }
  Shape wt() const { return {o, c, k, k}; }
};
constexpr ConvLayer kConv1{1, 28, 28, 6, 5};
constexpr ConvLayer kConv2{6, 12, 12, 12, 5};

Tensor random_tensor(const Shape& s, sf::Rng& rng, double scale) {
  Tensor t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.normal() * scale);
  return t;
}

void report(benchmark::State& state, double flops_per_batch) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBatch);
  state.counters["FLOPs"] =
      benchmark::Counter(flops_per_batch * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_conv_fwd(benchmark::State& state, ConvLayer l, const char* impl) {
  auto op = sf::make_op("conv2d", {}, sf::Device::cpu, impl);
  const Shape out = op->prepare(std::vector<Shape>{l.x(), l.wt()});
  sf::Rng rng(1);
  const Tensor x = random_tensor(l.x(), rng, 1.0), w = random_tensor(l.wt(), rng, 0.2);
  Tensor y(out);
  const std::vector<const Tensor*> in{&x, &w};
  for (auto _ : state) {
    op->forward(in, y);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  report(state, 2.0 * l.macs());
}

// with_data = false is how conv1 really trains: it is the first layer, so no gradient for the images.
void BM_conv_bwd(benchmark::State& state, ConvLayer l, const char* impl, bool with_data) {
  auto op = sf::make_op("conv2d", {}, sf::Device::cpu, impl);
  const Shape out = op->prepare(std::vector<Shape>{l.x(), l.wt()});
  sf::Rng rng(2);
  const Tensor x = random_tensor(l.x(), rng, 1.0), w = random_tensor(l.wt(), rng, 0.2);
  const Tensor dy = random_tensor(out, rng, 1.0);
  Tensor y(out), dx(l.x()), dw(l.wt());
  const std::vector<const Tensor*> in{&x, &w};
  const std::vector<Tensor*> gin{with_data ? &dx : nullptr, &dw};
  op->forward(in, y);
  for (auto _ : state) {
    op->backward(in, y, dy, gin);
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  report(state, (with_data ? 4.0 : 2.0) * l.macs());
}

void BM_pool(benchmark::State& state, bool backward) {
  auto op = sf::make_op("avgpool2d", {{"kernel", 2}});
  const Shape xs{kBatch, 6, 24, 24};
  const Shape out = op->prepare(std::vector<Shape>{xs});
  sf::Rng rng(3);
  const Tensor x = random_tensor(xs, rng, 1.0), dy = random_tensor(out, rng, 1.0);
  Tensor y(out), dx(xs);
  const std::vector<const Tensor*> in{&x};
  const std::vector<Tensor*> gin{&dx};
  op->forward(in, y);
  for (auto _ : state) {
    if (backward)
      op->backward(in, y, dy, gin);
    else
      op->forward(in, y);
    benchmark::ClobberMemory();
  }
  report(state, static_cast<double>(sf::numel(out)) * 4.0);  // 2x2 window: 4 ops per output
}

void BM_dense(benchmark::State& state, bool backward) {
  auto op = sf::make_op("dense");
  const Shape xs{kBatch, 192}, ws{10, 192}, bs{10};
  const Shape out = op->prepare(std::vector<Shape>{xs, ws, bs});
  sf::Rng rng(4);
  const Tensor x = random_tensor(xs, rng, 1.0), w = random_tensor(ws, rng, 0.07), b = random_tensor(bs, rng, 0.1);
  const Tensor dy = random_tensor(out, rng, 1.0);
  Tensor y(out), dx(xs), dw(ws), db(bs);
  const std::vector<const Tensor*> in{&x, &w, &b};
  const std::vector<Tensor*> gin{&dx, &dw, &db};
  op->forward(in, y);
  for (auto _ : state) {
    if (backward)
      op->backward(in, y, dy, gin);
    else
      op->forward(in, y);
    benchmark::ClobberMemory();
  }
  const double macs = double(kBatch) * 192 * 10;
  report(state, (backward ? 4.0 : 2.0) * macs);
}

BENCHMARK_CAPTURE(BM_conv_fwd, conv1_onednn, kConv1, "onednn")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv_fwd, conv1_reference, kConv1, "reference")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv_bwd, conv1_onednn_data_weights, kConv1, "onednn", true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv_bwd, conv1_onednn_weights_only, kConv1, "onednn", false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv_fwd, conv2_onednn, kConv2, "onednn")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv_fwd, conv2_reference, kConv2, "reference")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_conv_bwd, conv2_onednn_data_weights, kConv2, "onednn", true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_pool, pool1_fwd_onednn, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_pool, pool1_bwd_onednn, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_dense, fc_fwd_onednn, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_dense, fc_bwd_onednn, true)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
