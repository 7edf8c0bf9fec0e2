// Per-layer kernel timings for the Liu et al. small net at batch 50 (the training batch):
//   conv1    1→6,  5x5 on 28x28, no bias     conv2  6→12, 5x5 on 12x12, no bias
//   pool1    avgpool 2x2/2 on [50,6,24,24]   fc     dense 192→10 with bias
// Forward and backward (data + weights) for each optimised CPU kernel (conv: oneDNN and the im2col
// micro-GEMM "gemm"; pooling: oneDNN and "loops"; dense: oneDNN); the reference conv is timed forward only,
// as the baseline. A kernel a later build no longer registers makes its cases error out, not crash. items_per_second is
// images/s; "FLOPs" is 2·MACs per second (pooling counts one op per window element). The kernels run on OpenMP threads,
// so every case is timed on the wall clock (UseRealTime): the main thread's CPU time would leave out the worker
// threads. The BM_mn cases at the end time MobileNet v1's layers at batch 64 (see there).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "ops/registry.h"

namespace {

// Ops called directly (outside a graph) run in eval mode on the CPU.
const sf::ExecContext kCtx;

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

// The op, or null after marking the case as errored (e.g. an implementation this build does not register).
sf::OpPtr make_or_skip(benchmark::State& state, const char* type, const sf::Attrs& attrs, const char* impl) {
  try {
    return sf::make_op(type, attrs, sf::Device::cpu, impl);
  } catch (const sf::Error& e) {
    state.SkipWithError(e.what());
    return nullptr;
  }
}

void report(benchmark::State& state, double flops_per_batch) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBatch);
  state.counters["FLOPs"] =
      benchmark::Counter(flops_per_batch * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Times forward, or backward after one forward, of a prepared op.
void time_pass(benchmark::State& state, sf::Op& op, const std::vector<const Tensor*>& in, Tensor& y, const Tensor& dy,
               const std::vector<Tensor*>& gin, bool backward) {
  op.forward(kCtx, in, y);
  for (auto _ : state) {
    if (backward)
      op.backward(kCtx, in, y, dy, gin);
    else
      op.forward(kCtx, in, y);
    benchmark::ClobberMemory();
  }
}

void BM_conv_fwd(benchmark::State& state, ConvLayer l, const char* impl) {
  auto op = make_or_skip(state, "conv2d", {}, impl);
  if (!op) return;
  const Shape out = op->prepare(std::vector<Shape>{l.x(), l.wt()});
  sf::Rng rng(1);
  const Tensor x = random_tensor(l.x(), rng, 1.0), w = random_tensor(l.wt(), rng, 0.2);
  Tensor y(out);
  const std::vector<const Tensor*> in{&x, &w};
  for (auto _ : state) {
    op->forward(kCtx, in, y);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  report(state, 2.0 * l.macs());
}

// with_data = false is how conv1 really trains: it is the first layer, so no gradient for the images.
void BM_conv_bwd(benchmark::State& state, ConvLayer l, const char* impl, bool with_data) {
  auto op = make_or_skip(state, "conv2d", {}, impl);
  if (!op) return;
  const Shape out = op->prepare(std::vector<Shape>{l.x(), l.wt()});
  sf::Rng rng(2);
  const Tensor x = random_tensor(l.x(), rng, 1.0), w = random_tensor(l.wt(), rng, 0.2);
  const Tensor dy = random_tensor(out, rng, 1.0);
  Tensor y(out), dx(l.x()), dw(l.wt());
  const std::vector<const Tensor*> in{&x, &w};
  const std::vector<Tensor*> gin{with_data ? &dx : nullptr, &dw};
  op->forward(kCtx, in, y);
  for (auto _ : state) {
    op->backward(kCtx, in, y, dy, gin);
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  report(state, (with_data ? 4.0 : 2.0) * l.macs());
}

void BM_pool(benchmark::State& state, const char* impl, bool backward) {
  auto op = make_or_skip(state, "avgpool2d", {{"kernel", 2}}, impl);
  if (!op) return;
  const Shape xs{kBatch, 6, 24, 24};
  const Shape out = op->prepare(std::vector<Shape>{xs});
  sf::Rng rng(3);
  const Tensor x = random_tensor(xs, rng, 1.0), dy = random_tensor(out, rng, 1.0);
  Tensor y(out), dx(xs);
  const std::vector<const Tensor*> in{&x};
  const std::vector<Tensor*> gin{&dx};
  time_pass(state, *op, in, y, dy, gin, backward);
  report(state, static_cast<double>(sf::numel(out)) * 4.0);  // 2x2 window: 4 ops per output
}

void BM_dense(benchmark::State& state, const char* impl, bool backward) {
  auto op = make_or_skip(state, "dense", {}, impl);
  if (!op) return;
  const Shape xs{kBatch, 192}, ws{10, 192}, bs{10};
  const Shape out = op->prepare(std::vector<Shape>{xs, ws, bs});
  sf::Rng rng(4);
  const Tensor x = random_tensor(xs, rng, 1.0), w = random_tensor(ws, rng, 0.07), b = random_tensor(bs, rng, 0.1);
  const Tensor dy = random_tensor(out, rng, 1.0);
  Tensor y(out), dx(xs), dw(ws), db(bs);
  const std::vector<const Tensor*> in{&x, &w, &b};
  const std::vector<Tensor*> gin{&dx, &dw, &db};
  time_pass(state, *op, in, y, dy, gin, backward);
  const double macs = double(kBatch) * 192 * 10;
  report(state, (backward ? 4.0 : 2.0) * macs);
}

// conv: every CPU kernel forward; backward (data + weights, and weights only for conv1, the first layer, and conv2) for
// the optimised ones — the reference backward is too slow to be worth timing.
#define SF_CONV_CASES(layer, L, IMPL)                                                                         \
  BENCHMARK_CAPTURE(BM_conv_fwd, layer##_fwd_##IMPL, L, #IMPL)->Unit(benchmark::kMicrosecond)->UseRealTime(); \
  BENCHMARK_CAPTURE(BM_conv_bwd, layer##_bwd_##IMPL, L, #IMPL, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
SF_CONV_CASES(conv1, kConv1, onednn)
SF_CONV_CASES(conv1, kConv1, gemm)
BENCHMARK_CAPTURE(BM_conv_bwd, conv1_bwd_weights_only_onednn, kConv1, "onednn", false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_conv_bwd, conv1_bwd_weights_only_gemm, kConv1, "gemm", false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
// conv2's backward split: weights alone (the data gradient is the difference to conv2_bwd_gemm).
BENCHMARK_CAPTURE(BM_conv_bwd, conv2_bwd_weights_only_gemm, kConv2, "gemm", false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_conv_fwd, conv1_fwd_reference, kConv1, "reference")->Unit(benchmark::kMicrosecond)->UseRealTime();
SF_CONV_CASES(conv2, kConv2, onednn)
SF_CONV_CASES(conv2, kConv2, gemm)
BENCHMARK_CAPTURE(BM_conv_fwd, conv2_fwd_reference, kConv2, "reference")->Unit(benchmark::kMicrosecond)->UseRealTime();
#undef SF_CONV_CASES

BENCHMARK_CAPTURE(BM_pool, pool1_fwd_onednn, "onednn", false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_pool, pool1_bwd_onednn, "onednn", true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_pool, pool1_fwd_loops, "loops", false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_pool, pool1_bwd_loops, "loops", true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_dense, fc_fwd_onednn, "onednn", false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_dense, fc_bwd_onednn, "onednn", true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_dense, fc_fwd_loops, "loops", false)->Unit(benchmark::kMicrosecond)->UseRealTime();

// ---------------------------------------------------------------------------------------------------------
// MobileNet v1 layers (CIFAR strides, α = 1) at batch 64, the seed's ImageNet batch:
//   pw256   1×1 conv 256→256 on 8×8, nhwc, no bias (blocks 4–5's pointwise layer)
//   dw256   depthwise 3×3 (groups 256) on 8×8, pad 1, nhwc, no bias
//   bn256   batchnorm on 64×256×8×8 in train mode (batch statistics), nhwc and nchw
//   relu6 on the same tensor, global_avgpool of the last map (64×2×2×1024), dropout of its output, and
//   to_nhwc of the CIFAR input (64×3×32×32).
// Napkin math in the counters: "FLOPs" (2·MACs; backward = data + weights = 4·MACs) as a rate and "peak%" of
// kPeakFlops; the memory-bound ops report "bytes", the compulsory traffic (each tensor read or written once:
// e.g. bn forward reads x and writes y = 8 bytes per element, backward reads x and dy and writes dx = 12) as a
// rate, to hold against the machine's memory bandwidth (bench_primitives' BM_Axpy on a 4.2 M vector).

// fp32 peak of the 2-core machine: OpenBLAS sgemm 2048³ measured ≈ 370 GFLOP/s (README, "Measured anchor").
constexpr double kPeakFlops = 370e9;
constexpr int64_t kMnBatch = 64;

struct OpBench {
  const char* type;
  sf::Attrs attrs;
  std::vector<Shape> inputs;
  std::vector<Shape> state;  // bound with bind_state (batchnorm's running statistics)
  sf::Mode mode = sf::Mode::eval;
  double flops_fwd = 0, flops_bwd = 0;  // per batch
  double bytes_fwd = 0, bytes_bwd = 0;  // per batch
};

// Prepares the op, or marks the case as errored when the kernel does not support the shapes (a hand-written
// kernel outside its measured region) and returns false.
bool prepare_or_skip(benchmark::State& state, sf::Op& op, const std::vector<Shape>& in, Shape& out) {
  try {
    out = op.prepare(in);
    return true;
  } catch (const sf::Error& e) {
    state.SkipWithError(e.what());
    return false;
  }
}

void report_mn(benchmark::State& state, double flops, double bytes) {
  const double it = static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kMnBatch);
  if (flops > 0) {
    state.counters["FLOPs"] = benchmark::Counter(flops * it, benchmark::Counter::kIsRate);
    state.counters["peak%"] = benchmark::Counter(100.0 * flops * it / kPeakFlops, benchmark::Counter::kIsRate);
  }
  if (bytes > 0)
    state.counters["bytes"] = benchmark::Counter(bytes * it, benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
}

void BM_mn(benchmark::State& state, OpBench b, const char* impl, bool backward) {
  auto op = make_or_skip(state, b.type, b.attrs, impl);
  if (!op) return;
  sf::Rng rng(7);
  std::vector<Tensor> st;
  for (const Shape& s : b.state) st.push_back(Tensor::full(s, 1.0f));
  if (!st.empty()) op->bind_state(st);
  Shape out;
  if (!prepare_or_skip(state, *op, b.inputs, out)) return;
  std::vector<Tensor> ins, grads;
  std::vector<const Tensor*> in;
  std::vector<Tensor*> gin;
  for (const Shape& s : b.inputs) ins.push_back(random_tensor(s, rng, 0.5)), grads.emplace_back(s);
  for (size_t i = 0; i < ins.size(); ++i) in.push_back(&ins[i]), gin.push_back(&grads[i]);
  const Tensor dy = random_tensor(out, rng, 1.0);
  Tensor y(out);
  sf::ExecContext ctx;
  ctx.mode = b.mode;
  op->forward(ctx, in, y);
  for (auto _ : state) {
    if (backward)
      op->backward(ctx, in, y, dy, gin);
    else
      op->forward(ctx, in, y);
    benchmark::ClobberMemory();
  }
  report_mn(state, backward ? b.flops_bwd : b.flops_fwd, backward ? b.bytes_bwd : b.bytes_fwd);
}

Shape map256(const char* layout) {
  return std::string(layout) == "nhwc" ? Shape{kMnBatch, 8, 8, 256} : Shape{kMnBatch, 256, 8, 8};
}
OpBench pw256(const char* layout) {
  const double macs = double(kMnBatch) * 8 * 8 * 256 * 256;
  return {"conv2d", {{"layout", layout}}, {map256(layout), {256, 256, 1, 1}}, {}, sf::Mode::train, 2 * macs, 4 * macs};
}
OpBench dw256(const char* layout) {
  const double macs = double(kMnBatch) * 8 * 8 * 256 * 9, n = double(kMnBatch) * 8 * 8 * 256;
  // Depthwise is memory-bound (9 MACs per element): its compulsory traffic too.
  return {"conv2d",
          {{"layout", layout}, {"groups", 256}, {"pad", 1}},
          {map256(layout), {256, 1, 3, 3}},
          {},
          sf::Mode::train,
          2 * macs,
          4 * macs,
          8 * n,
          12 * n};
}
OpBench bn256(const char* layout) {
  const Shape x = map256(layout);
  const double n = double(sf::numel(x));
  return {"batchnorm", {{"layout", layout}}, {x, {256}, {256}}, {{256}, {256}}, sf::Mode::train, 0, 0, 8 * n, 12 * n};
}
OpBench eltwise(const char* type, Shape x, sf::Attrs attrs = {}, sf::Mode mode = sf::Mode::eval) {
  const double n = double(sf::numel(x));
  return {type, attrs, {x}, {}, mode, 0, 0, 8 * n, 12 * n};  // backward reads x (or y) and dy, writes dx
}
// Global pooling of MobileNet's last map (1024 × 2×2), and of a 32 × 32×32 one (long NCHW maps).
OpBench gap(const char* layout, int64_t c = 1024, int64_t side = 2) {
  const Shape x = std::string(layout) == "nhwc" ? Shape{kMnBatch, side, side, c} : Shape{kMnBatch, c, side, side};
  const double n = double(sf::numel(x));
  return {"global_avgpool", {{"layout", layout}}, {x}, {}, sf::Mode::eval, 0, 0, 4 * n + n, 4 * n + n};
}

#define SF_MN_CASES(name, BENCH, IMPL)                                                                            \
  BENCHMARK_CAPTURE(BM_mn, name##_fwd_##IMPL, BENCH, #IMPL, false)->Unit(benchmark::kMicrosecond)->UseRealTime(); \
  BENCHMARK_CAPTURE(BM_mn, name##_bwd_##IMPL, BENCH, #IMPL, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
SF_MN_CASES(mn_pw256_nhwc, pw256("nhwc"), onednn)
SF_MN_CASES(mn_dw256_nhwc, dw256("nhwc"), onednn)
SF_MN_CASES(mn_pw256_nchw, pw256("nchw"), onednn)
SF_MN_CASES(mn_dw256_nchw, dw256("nchw"), onednn)
SF_MN_CASES(mn_bn256_train_nhwc, bn256("nhwc"), onednn)
SF_MN_CASES(mn_bn256_train_nchw, bn256("nchw"), onednn)
SF_MN_CASES(mn_bn256_train_nhwc, bn256("nhwc"), loops)
SF_MN_CASES(mn_bn256_train_nchw, bn256("nchw"), loops)
SF_MN_CASES(mn_relu6_256x8x8, eltwise("relu6", {kMnBatch, 8, 8, 256}), openmp)
SF_MN_CASES(mn_relu6_256x8x8, eltwise("relu6", {kMnBatch, 8, 8, 256}), onednn)
SF_MN_CASES(mn_gap1024_nhwc, gap("nhwc"), onednn)
SF_MN_CASES(mn_gap1024_nhwc, gap("nhwc"), loops)
SF_MN_CASES(mn_gap1024_nchw, gap("nchw"), onednn)
SF_MN_CASES(mn_gap1024_nchw, gap("nchw"), loops)
SF_MN_CASES(mn_gap32x32_nhwc, gap("nhwc", 32, 32), onednn)
SF_MN_CASES(mn_gap32x32_nhwc, gap("nhwc", 32, 32), loops)
SF_MN_CASES(mn_gap32x32_nchw, gap("nchw", 32, 32), onednn)
SF_MN_CASES(mn_gap32x32_nchw, gap("nchw", 32, 32), loops)
SF_MN_CASES(mn_dropout_1024, eltwise("dropout", {kMnBatch, 1024}, {{"rate", 0.5}}, sf::Mode::train), reference)
SF_MN_CASES(mn_to_nhwc_cifar, eltwise("to_nhwc", {kMnBatch, 3, 32, 32}), onednn)
SF_MN_CASES(mn_to_nhwc_cifar, eltwise("to_nhwc", {kMnBatch, 3, 32, 32}), reference)
#undef SF_MN_CASES

// Batch norm (train mode, forward + backward) over every MobileNet v1 map at CIFAR strides, batch 64:
// args channels, map side (0: a dense layer's [N,C]), layout (0 nchw, 1 nhwc), kernel (0 onednn, 1 loops).
void BM_mn_bn_sweep(benchmark::State& state) {
  const int64_t c = state.range(0), side = state.range(1);
  const char* layout = state.range(2) ? "nhwc" : "nchw";
  const Shape x = side == 0        ? Shape{kMnBatch, c}
                  : state.range(2) ? Shape{kMnBatch, side, side, c}
                                   : Shape{kMnBatch, c, side, side};
  const double n = double(sf::numel(x));
  OpBench b{"batchnorm", {{"layout", layout}}, {x, {c}, {c}}, {{c}, {c}}, sf::Mode::train, 0, 0, 20 * n, 20 * n};
  auto op = make_or_skip(state, "batchnorm", b.attrs, state.range(3) ? "loops" : "onednn");
  if (!op) return;
  std::vector<Tensor> st{Tensor::zeros({c}), Tensor::full({c}, 1.0f)};
  op->bind_state(st);
  Shape out;
  if (!prepare_or_skip(state, *op, b.inputs, out)) return;  // loops on 2×2 NCHW maps: outside their supports()
  sf::Rng rng(8);
  const Tensor xt = random_tensor(x, rng, 1.0), g = random_tensor({c}, rng, 1.0), be = random_tensor({c}, rng, 1.0);
  const Tensor dy = random_tensor(x, rng, 1.0);
  Tensor y(x), dx(x), dg({c}), db({c});
  const std::vector<const Tensor*> in{&xt, &g, &be};
  const std::vector<Tensor*> gin{&dx, &dg, &db};
  sf::ExecContext ctx;
  ctx.mode = sf::Mode::train;
  for (auto _ : state) {
    op->forward(ctx, in, y);
    op->backward(ctx, in, y, dy, gin);
    benchmark::ClobberMemory();
  }
  report_mn(state, 0, 20 * n);  // forward 8 + backward 12 bytes per element
}
BENCHMARK(BM_mn_bn_sweep)
    ->ArgsProduct({{32}, {32}, {0, 1}, {0, 1}})
    ->ArgsProduct({{64}, {32}, {0, 1}, {0, 1}})
    ->ArgsProduct({{128}, {16}, {0, 1}, {0, 1}})
    ->ArgsProduct({{256}, {8}, {0, 1}, {0, 1}})
    ->ArgsProduct({{512}, {4}, {0, 1}, {0, 1}})
    ->ArgsProduct({{1024}, {2}, {0, 1}, {0, 1}})
    ->ArgsProduct({{256, 1024}, {0}, {0}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
