#include "backends/cpu/simulator.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>

#include "backends/cpu/encoder.h"
#include "backends/cpu/neurons.h"
#include "core/error.h"
#include "core/graph.h"
#include "ops/registry.h"

namespace sf::cpu {
namespace {

using snn::LayerKind;

// Adds a · w[0..n) to d[0..n) for every tap in [tap, end); n known at compile time for the common channel
// counts so the loop unrolls into whole vector operations instead of a scalar remainder.
using RunAdder = void (*)(const int32_t* tap, const int32_t* end, const float* wt, float a, float* dst, int n);

template <int N>
void add_runs(const int32_t* tap, const int32_t* end, const float* wt, float a, float* dst, int) {
  for (; tap < end; tap += 2) {
    float* d = dst + tap[0];
    const float* w = wt + tap[1];
    for (int o = 0; o < N; ++o) d[o] += a * w[o];
  }
}

inline void add_runs_any(const int32_t* tap, const int32_t* end, const float* wt, float a, float* dst, int n) {
  for (; tap < end; tap += 2)
    for (int o = 0; o < n; ++o) dst[tap[0] + o] += a * wt[tap[1] + o];
}

template <int... N>
RunAdder adder_for(int n) {
  RunAdder f = add_runs_any;
  ((f = n == N ? add_runs<N> : f), ...);
  return f;
}

// A layer prepared for simulation. The event path does not decode coordinates per spike (integer divisions
// cost more than the additions): every presynaptic neuron has a precomputed row of (target offset, weight
// offset) taps, each adding a contiguous run of `run` weights to the channels-last target — one tap per
// kernel position for conv, one per input for dense. The bias is expanded per neuron in both layouts.
struct LayerPlan {
  const snn::Layer* layer;
  NeuronConstants k;
  int oc, oh, ow;
  int run = 1;  // weights per tap: O for conv/dense, 1 for depthwise/avgpool
  RunAdder adder = add_runs_any;
  std::vector<float> wt;      // conv [C][K][K][O], depthwise [C][K][K], dense [pooled HWC index][O], avgpool {w}
  std::vector<int32_t> row;   // taps of presynaptic neuron j: taps[2·row[j] .. 2·row[j + 1])
  std::vector<int32_t> taps;  // (target offset, weight offset) pairs
  std::vector<float> bias_hwc, bias_chw;  // per neuron, empty without bias
  int64_t neurons;
  double fanout;  // mean synapses per presynaptic spike (for the event statistics)

  // source_chw: the presynaptic population is the input (flat C, H, W); otherwise a population (H, W, C).
  LayerPlan(const snn::Network& net, const snn::Layer& l, bool source_chw) : layer(&l), k(net, l) {
    const int P = std::max(l.pool_in, 1);
    const int C = static_cast<int>(l.in_shape[0]), H = static_cast<int>(l.in_shape[1]),
              W = static_cast<int>(l.in_shape[2]);
    const int ph = H / P, pw = W / P;
    oc = static_cast<int>(l.out_shape[0]), oh = static_cast<int>(l.out_shape[1]), ow = static_cast<int>(l.out_shape[2]);
    neurons = l.neurons();
    const float merged = 1.0f / static_cast<float>(P * P);
    const int K = l.kernel, O = oc;
    switch (l.kind) {
      case LayerKind::conv:
        run = O;
        wt.resize(static_cast<size_t>(C) * K * K * O);
        for (int o = 0; o < O; ++o)
          for (int c = 0; c < C; ++c)
            for (int i = 0; i < K * K; ++i) wt[(c * K * K + i) * O + o] = l.weight[(o * C + c) * K * K + i] * merged;
        break;
      case LayerKind::depthwise_conv:
        wt.resize(static_cast<size_t>(C) * K * K);
        for (size_t i = 0; i < wt.size(); ++i) wt[i] = l.weight[static_cast<int64_t>(i)] * merged;
        break;
      case LayerKind::dense:
        run = O;
        wt.resize(static_cast<size_t>(C) * ph * pw * O);
        for (int c = 0; c < C; ++c)
          for (int y = 0; y < ph; ++y)
            for (int x = 0; x < pw; ++x) {
              const int64_t chw = (static_cast<int64_t>(c) * ph + y) * pw + x, hwc = (y * pw + x) * C + c;
              for (int o = 0; o < O; ++o) wt[hwc * O + o] = l.weight[o * (C * ph * pw) + chw] * merged;
            }
        break;
      case LayerKind::avgpool:
        wt = {l.pool_weight * merged};
        break;
    }
    const int64_t pre = numel(l.in_shape);
    row.assign(pre + 1, 0);
    for (int64_t j = 0; j < pre; ++j) {
      int c, y, x;
      if (source_chw)
        c = static_cast<int>(j / (H * W)), y = static_cast<int>(j / W % H), x = static_cast<int>(j % W);
      else
        c = static_cast<int>(j % C), x = static_cast<int>(j / C % W), y = static_cast<int>(j / C / W);
      y /= P, x /= P;  // merged pooling: the pooled input this neuron averages into
      if (y < ph && x < pw) add_taps(l, c, y, x, pw);
      row[j + 1] = static_cast<int32_t>(taps.size() / 2);
    }
    if (l.bias.defined()) {
      bias_hwc.resize(neurons), bias_chw.resize(neurons);
      for (int c = 0; c < oc; ++c)
        for (int i = 0; i < oh * ow; ++i) bias_chw[c * oh * ow + i] = bias_hwc[i * oc + c] = l.bias_at(c, i);
    }
    fanout = pre ? static_cast<double>(taps.size() / 2) * run / static_cast<double>(pre) : 0.0;
    adder = adder_for<1, 6, 8, 10, 12, 16, 32, 64>(run);
  }

  // Taps of (pooled) input (c, y, x): out[o, oy, ox] reads in[c, oy·S + ky − pad, ox·S + kx − pad].
  void add_taps(const snn::Layer& l, int c, int y, int x, int pw) {
    const int K = l.kernel, S = l.stride, pad = l.padding, C = static_cast<int>(l.in_shape[0]);
    auto tap = [&](int64_t target, int64_t weight) {
      if (target > INT32_MAX || weight > INT32_MAX || taps.size() / 2 >= static_cast<size_t>(INT32_MAX))
        fail_input("snn layer '" + l.name + "'", "too large for the CPU simulator's 32-bit synapse tables");
      taps.push_back(static_cast<int32_t>(target));
      taps.push_back(static_cast<int32_t>(weight));
    };
    switch (l.kind) {
      case LayerKind::conv:
      case LayerKind::depthwise_conv:
        for (int ky = 0; ky < K; ++ky) {
          const int ny = y + pad - ky;
          if (ny < 0 || ny % S || ny / S >= oh) continue;
          for (int kx = 0; kx < K; ++kx) {
            const int nx = x + pad - kx;
            if (nx < 0 || nx % S || nx / S >= ow) continue;
            const int64_t pos = static_cast<int64_t>(ny / S) * ow + nx / S;
            if (l.kind == LayerKind::conv)
              tap(pos * oc, static_cast<int64_t>((c * K + ky) * K + kx) * oc);
            else
              tap(pos * oc + c, (c * K + ky) * K + kx);
          }
        }
        break;
      case LayerKind::dense:
        tap(0, static_cast<int64_t>((y * pw + x) * C + c) * oc);
        break;
      case LayerKind::avgpool:
        if (y / l.kernel < oh && x / l.kernel < ow)
          tap((static_cast<int64_t>(y / l.kernel) * ow + x / l.kernel) * oc + c, 0);
        break;
    }
  }

  // Adds a · (the outgoing weights of presynaptic neuron `pre`) to `dst` (this layer's input, HWC).
  void scatter(int32_t pre, float a, float* dst) const {
    const int32_t* t = taps.data() + 2 * static_cast<int64_t>(row[pre]);
    const int32_t* e = taps.data() + 2 * static_cast<int64_t>(row[pre + 1]);
    adder(t, e, wt.data(), a, dst, run);
  }
};

// Per-thread accumulators, summed at the end in a fixed order (deterministic whatever the schedule).
struct Tally {
  std::vector<int64_t> correct;
  std::vector<std::vector<int64_t>> neuron_counts;  // per layer, per neuron (own layout; only max/sum are used)
  std::vector<int64_t> negative_spikes;             // per layer (signed IF)
  std::vector<float> probe_max;                     // per channel of the probed layer
  int64_t input_spikes = 0;
  Tally(int steps, const std::vector<LayerPlan>& plans, int probe)
      : correct(steps, 0), negative_spikes(plans.size(), 0) {
    for (const auto& p : plans) neuron_counts.emplace_back(p.neurons, 0);
    if (probe >= 0) probe_max.assign(plans[probe].oc, 0.0f);
  }
  // Spike-norm calibration: the largest input per channel; `hwc` tells the layout of `in`.
  void record_probe(const LayerPlan& p, const float* in, bool hwc) {
    const int64_t per_channel = p.neurons / p.oc;
    for (int64_t j = 0; j < p.neurons; ++j) {
      float& m = probe_max[hwc ? j % p.oc : j / per_channel];
      m = std::max(m, in[j]);
    }
  }
};

// Class of the output population: most spikes, ties to the higher membrane potential, then the lower index.
int32_t readout(const Population& out) {
  int32_t best = 0;
  for (int32_t j = 1; j < static_cast<int32_t>(out.counts.size()); ++j)
    if (out.counts[j] > out.counts[best] || (out.counts[j] == out.counts[best] && out.v[j] > out.v[best])) best = j;
  return best;
}

struct Context {
  const snn::Network& net;
  const Dataset& data;
  const SimOptions& opts;
  std::vector<LayerPlan> plans;
  int last;             // index of the last simulated layer
  int64_t n_input;      // input neurons
  int ic, ih, iw;       // input shape
  float current_scale;  // current input: amplitude of a pixel of value 1 per step
};

// Input of one image: spike trains (poisson/regular) or the constant first-layer current (current).
struct ImageInput {
  InputTrains trains;
  std::vector<float> constant;  // first layer input per step (HWC), current encoding only

  void prepare(const Context& cx, int64_t image, bool hwc) {
    const float* px = cx.data.image(image);
    if (cx.net.input.kind == snn::InputEncoding::current) {
      const LayerPlan& l0 = cx.plans[0];
      constant.assign(l0.neurons, 0.0f);
      if (hwc)
        for (int64_t i = 0; i < cx.n_input; ++i)
          if (px[i] != 0.0f) l0.scatter(static_cast<int32_t>(i), px[i] * cx.current_scale, constant.data());
      return;
    }
    Rng rng(image_stream_seed(cx.opts.seed, image));
    trains.generate(px, cx.n_input, cx.net.input, cx.net.dt_ms, cx.opts.steps, rng);
  }
};

// ---- event-driven propagation -------------------------------------------------------------------------

class EventEngine {
 public:
  explicit EventEngine(const Context& cx) : cx_(cx), pops_(cx.last + 1) {}

  void run_image(int64_t image, Tally& tally, SimResult& r) {
    const auto& plans = cx_.plans;
    for (int l = 0; l <= cx_.last; ++l) pops_[l].reset(plans[l].neurons, plans[l].k);
    input_.prepare(cx_, image, true);
    tally.input_spikes += input_.trains.total();
    const bool delayed = cx_.net.delay_steps > 0;
    const int32_t label = cx_.data.label(image);
    for (int t = 0; t < cx_.opts.steps; ++t) {
      if (!delayed) feed_input(t);
      // With a one-step delay, running the layers last to first makes every population read the spikes its
      // source fired in the previous step; first to last propagates within the step.
      for (int i = 0; i <= cx_.last; ++i) {
        const int l = delayed ? cx_.last - i : i;
        const LayerPlan& p = plans[l];
        if (l == cx_.opts.probe_layer) tally.record_probe(p, pops_[l].in.data(), true);
        step_population(pops_[l], p.k, p.bias_hwc.empty() ? nullptr : p.bias_hwc.data());
        if (l < cx_.last) {
          const LayerPlan& next = plans[l + 1];
          float* dst = pops_[l + 1].in.data();
          for (int32_t j : pops_[l].spikes) next.scatter(j, 1.0f, dst);
          for (int32_t j : pops_[l].negative) next.scatter(j, -1.0f, dst);
        }
      }
      if (delayed) feed_input(t);
      if (cx_.opts.probe_layer < 0) tally.correct[t] += readout(pops_.back()) == label;
    }
    finish_image(cx_, pops_, image, tally, r);
  }

  static void finish_image(const Context& cx, const std::vector<Population>& pops, int64_t image, Tally& tally,
                           SimResult& r) {
    for (int l = 0; l <= cx.last; ++l) {
      for (size_t j = 0; j < pops[l].counts.size(); ++j) tally.neuron_counts[l][j] += pops[l].counts[j];
      tally.negative_spikes[l] += pops[l].negative_total;
    }
    if (cx.opts.probe_layer >= 0) return;
    const Population& out = pops.back();
    const int64_t row = image - cx.opts.first_image;
    r.predicted[row] = readout(out);
    const int64_t classes = static_cast<int64_t>(out.counts.size());
    std::copy(out.counts.begin(), out.counts.end(), r.output_counts.begin() + row * classes);
  }

 private:
  void feed_input(int t) {
    float* dst = pops_[0].in.data();
    if (!input_.constant.empty()) {
      for (size_t j = 0; j < input_.constant.size(); ++j) dst[j] += input_.constant[j];
      return;
    }
    for (int32_t px : input_.trains.at(t)) cx_.plans[0].scatter(px, 1.0f, dst);
  }

  const Context& cx_;
  std::vector<Population> pops_;
  ImageInput input_;
};

// ---- dense propagation ----------------------------------------------------------------------------------

// One graph per layer over a batch: [B, C, H, W] spikes (0/1; signed IF: −1/0/1) → (merged avgpool) → conv /
// inner product / avgpool through the registered CPU kernels → the layer's input (NCHW) for every image of the
// batch.
class DenseEngine {
 public:
  DenseEngine(const Context& cx, int64_t batch) : cx_(cx), batch_(batch), pops_(batch) {
    for (auto& p : pops_) p.resize(cx.last + 1);
    Shape in{batch, cx.ic, cx.ih, cx.iw};
    for (int l = 0; l <= cx.last; ++l) {
      const snn::Layer& sl = *cx.plans[l].layer;
      auto g = std::make_unique<Graph>();
      const NodeId x0 = g->input("spikes", in);
      NodeId x = x0;
      if (sl.pool_in > 1) x = g->apply("pool_in", make_op("avgpool2d", {{"kernel", sl.pool_in}}), {x});
      switch (sl.kind) {
        case LayerKind::conv:
          x = g->apply(sl.name, make_op("conv2d", {{"stride", sl.stride}, {"pad", sl.padding}}),
                       {x, g->parameter("w", sl.weight)});
          break;
        case LayerKind::depthwise_conv:  // weight [C, 1, K, K]: conv2d's [O, C/G, K, K] with G = C
          x = g->apply(sl.name,
                       make_op("conv2d", {{"stride", sl.stride}, {"pad", sl.padding}, {"groups", sl.out_shape[0]}}),
                       {x, g->parameter("w", sl.weight)});
          break;
        case LayerKind::dense:
          x = g->apply("flatten", make_op("flatten"), {x});
          x = g->apply(sl.name, make_op("dense"), {x, g->parameter("w", sl.weight)});
          break;
        case LayerKind::avgpool:
          x = g->apply(sl.name, make_op("avgpool2d", {{"kernel", sl.kernel}}), {x});
          break;
        default:  // every LayerKind has its case above
          fail_internal("dense propagation: layer '" + sl.name + "' has no dense kernel");
      }
      // avgpool computes the mean; the layer's weight per input may differ (Liu: 0.25 nA for any window).
      scale_.push_back(sl.kind == LayerKind::avgpool ? sl.pool_weight * sl.kernel * sl.kernel : 1.0f);
      inputs_.push_back(x0);
      outputs_.push_back(x);
      graphs_.push_back(std::move(g));
      in = {batch, sl.out_shape[0], sl.out_shape[1], sl.out_shape[2]};
    }
  }

  // Simulates images [first, first + count), count ≤ batch.
  void run_batch(int64_t first, int64_t count, Tally& tally, SimResult& r) {
    const auto& plans = cx_.plans;
    for (int64_t b = 0; b < count; ++b) {
      for (int l = 0; l <= cx_.last; ++l) pops_[b][l].reset(plans[l].neurons, plans[l].k);
    }
    inputs_data_.resize(count);
    for (int64_t b = 0; b < count; ++b) {
      inputs_data_[b].prepare(cx_, first + b, false);
      tally.input_spikes += inputs_data_[b].trains.total();
    }
    for (size_t l = 0; l < graphs_.size(); ++l) graphs_[l]->value(inputs_[l]).fill(0.0f);
    const bool delayed = cx_.net.delay_steps > 0;
    for (int t = 0; t < cx_.opts.steps; ++t) {
      if (!delayed) feed_input(t, count);
      for (int i = 0; i <= cx_.last; ++i) {
        const int l = delayed ? cx_.last - i : i;
        const LayerPlan& p = plans[l];
        graphs_[l]->forward();
        const float* out = graphs_[l]->value(outputs_[l]).data();
        float* next = l < cx_.last ? graphs_[l + 1]->value(inputs_[l + 1]).data() : nullptr;
        if (next) std::fill(next, next + batch_ * p.neurons, 0.0f);
        for (int64_t b = 0; b < count; ++b) {
          Population& pop = pops_[b][l];
          const float* src = out + b * p.neurons;
          for (int64_t j = 0; j < p.neurons; ++j) pop.in[j] = src[j] * scale_[l];
          if (l == cx_.opts.probe_layer) tally.record_probe(p, pop.in.data(), false);
          step_population(pop, p.k, p.bias_chw.empty() ? nullptr : p.bias_chw.data());
          if (next)
            for (int32_t j : pop.spikes) next[b * p.neurons + j] = 1.0f;
          if (next)
            for (int32_t j : pop.negative) next[b * p.neurons + j] = -1.0f;
        }
      }
      if (delayed) feed_input(t, count);
      if (cx_.opts.probe_layer < 0)
        for (int64_t b = 0; b < count; ++b) tally.correct[t] += readout(pops_[b].back()) == cx_.data.label(first + b);
    }
    for (int64_t b = 0; b < count; ++b) EventEngine::finish_image(cx_, pops_[b], first + b, tally, r);
  }

 private:
  void feed_input(int t, int64_t count) {
    float* x = graphs_[0]->value(inputs_[0]).data();
    const int64_t n = cx_.n_input;
    std::fill(x, x + batch_ * n, 0.0f);
    for (int64_t b = 0; b < count; ++b)
      for (int32_t px : inputs_data_[b].trains.at(t)) x[b * n + px] = 1.0f;
  }

  const Context& cx_;
  int64_t batch_;
  std::vector<std::vector<Population>> pops_;
  std::vector<std::unique_ptr<Graph>> graphs_;
  std::vector<NodeId> inputs_, outputs_;
  std::vector<float> scale_;
  std::vector<ImageInput> inputs_data_;
};

// Refusals before any work: BadInput naming the flag.
void check_run(const snn::Network& net, const Dataset& data, const SimOptions& opts) {
  check_simulation(net, data, opts);
  if (opts.propagation == Propagation::dense && net.input.kind == snn::InputEncoding::current)
    fail_input("--propagation dense", "current input is simulated by the event kernel only");
}

void prepare_context(Context& cx) {
  const snn::Network& net = cx.net;
  for (size_t l = 0; l < net.layers.size(); ++l) cx.plans.emplace_back(net, net.layers[l], l == 0);
  cx.last = cx.opts.probe_layer >= 0 ? cx.opts.probe_layer : static_cast<int>(net.layers.size()) - 1;
  cx.n_input = numel(net.input_shape);
  cx.ic = static_cast<int>(net.input_shape[0]), cx.ih = static_cast<int>(net.input_shape[1]),
  cx.iw = static_cast<int>(net.input_shape[2]);
  cx.current_scale = current_input_scale(net);
}

// Simulates images [first_image, first_image + images) over OpenMP threads, one image (event) or one batch
// (dense) at a time; each thread fills its own tally and its images' rows of `r`. Images keep their dataset
// index (the Poisson stream's key), so a range gives the same spikes as the same images in a longer run.
std::vector<Tally> run_images(const Context& cx, int64_t images, SimResult& r) {
  const SimOptions& opts = cx.opts;
  const int64_t chunk = opts.propagation == Propagation::dense ? (opts.batch > 0 ? opts.batch : kCpuDenseBatch) : 1;
  const int64_t chunks = (images + chunk - 1) / chunk;
  const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), chunks)));
  std::vector<Tally> tallies(threads, Tally(opts.steps, cx.plans, opts.probe_layer));
  // An exception must not leave an OpenMP region (std::terminate): the first one is kept and rethrown.
  std::exception_ptr failure;
#pragma omp parallel num_threads(threads)
  {
    try {
      Tally& tally = tallies[omp_get_thread_num()];
      std::unique_ptr<EventEngine> ev;
      std::unique_ptr<DenseEngine> de;
      if (opts.propagation == Propagation::dense)
        de = std::make_unique<DenseEngine>(cx, chunk);
      else
        ev = std::make_unique<EventEngine>(cx);
#pragma omp for schedule(dynamic, 1)
      for (int64_t ch = 0; ch < chunks; ++ch) {
        const int64_t first = ch * chunk, count = std::min(chunk, images - first);
        if (de)
          de->run_batch(opts.first_image + first, count, tally, r);
        else
          ev->run_image(opts.first_image + first, tally, r);
      }
    } catch (...) {
#pragma omp critical(sf_sim_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return tallies;
}

// The threads' tallies summed in a fixed order: accuracy over time, the probe's maxima, and per-layer spike
// statistics.
void merge_tallies(const Context& cx, const std::vector<Tally>& tallies, int64_t images, SimResult& r) {
  const SimOptions& opts = cx.opts;
  for (const Tally& t : tallies) {
    for (int s = 0; s < opts.steps; ++s) r.correct[s] += t.correct[s];
    if (r.probe_max_input.empty()) r.probe_max_input.assign(t.probe_max.size(), 0.0f);
    for (size_t c = 0; c < t.probe_max.size(); ++c)
      r.probe_max_input[c] = std::max(r.probe_max_input[c], t.probe_max[c]);
  }
  for (int l = 0; l <= cx.last; ++l) {
    const LayerPlan& p = cx.plans[l];
    LayerStats s;
    s.name = cx.net.layers[l].name;
    s.neurons = p.neurons;
    s.neuron_spikes.assign(p.neurons, 0);
    // The event engine's populations are (H, W, C), the dense engine's (C, H, W): reported as (C, H, W).
    const bool hwc = opts.propagation == Propagation::event;
    const int64_t plane = static_cast<int64_t>(p.oh) * p.ow;
    for (const Tally& t : tallies) {
      for (int64_t j = 0; j < p.neurons; ++j)
        s.neuron_spikes[hwc ? j % p.oc * plane + j / p.oc : j] += t.neuron_counts[l][j];
      s.negative_spikes += t.negative_spikes[l];
    }
    s.fanout = p.fanout;  // events into each layer: its source's spikes times its mean fan-out
    if (l == 0) {
      for (const Tally& t : tallies) s.presynaptic_spikes += t.input_spikes;
    } else {
      // A negative spike is sent as well as taken off the net count.
      const LayerStats& src = r.layers[l - 1];
      for (int64_t c : src.neuron_spikes) s.presynaptic_spikes += c;
      s.presynaptic_spikes += 2 * src.negative_spikes;
    }
    r.layers.push_back(std::move(s));
  }
  finish_layer_stats(r.layers, images, opts.steps * cx.net.dt_ms / 1000.0);
}

// Every input spike of the simulated images, regenerated from the same per-image streams the simulation used
// (cheap next to simulating).
void record_input_spikes(const Context& cx, int64_t images, SimResult& r) {
  const snn::Network& net = cx.net;
  InputTrains trains;
  for (int64_t i = cx.opts.first_image; i < cx.opts.first_image + images; ++i) {
    Rng rng(image_stream_seed(cx.opts.seed, i));
    trains.generate(cx.data.image(i), cx.n_input, net.input, net.dt_ms, cx.opts.steps, rng);
    for (int t = 0; t < cx.opts.steps; ++t)
      for (int32_t px : trains.at(t)) r.input_spikes.push_back({static_cast<int32_t>(i), px, t});
  }
}

}  // namespace

Capabilities CpuSimulator::capabilities() const {
  Capabilities c;
  c.simulates = true;
  c.neurons = {snn::NeuronModel::if_reset_zero, snn::NeuronModel::if_subtract, snn::NeuronModel::if_signed,
               snn::NeuronModel::lif};
  c.inputs = {snn::InputEncoding::poisson, snn::InputEncoding::current, snn::InputEncoding::regular};
  c.resets = {ResetMode::to_value, ResetMode::subtract};
  c.propagations = {Propagation::event, Propagation::dense};
  c.options = {"--propagation", "--batch", "--record-input", "--export-exact", "--first-image"};
  return c;
}

SimResult CpuSimulator::simulate(const snn::Network& net, const Dataset& data, const SimOptions& opts) {
  check_run(net, data, opts);
  const auto start = std::chrono::steady_clock::now();
  Context cx{net, data, opts, {}, 0, 0, 0, 0, 0, 1.0f};
  prepare_context(cx);
  SimResult r = start_result(net, data, opts);
  const int64_t images = r.images;
  merge_tallies(cx, run_images(cx, images, r), images, r);
  if (opts.record_input && net.input.kind != snn::InputEncoding::current) record_input_spikes(cx, images, r);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace sf::cpu
