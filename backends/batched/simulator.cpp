#include "backends/batched/simulator.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <memory>

#include "backends/batched/kernels.h"
#include "backends/cpu/neurons.h"
#include "backends/cpu/simulator.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/primitives.h"
#include "core/rng.h"
#include "ops/registry.h"

namespace sf::batched {
namespace {

using snn::LayerKind;

constexpr int64_t kMaxSteps = int64_t{1} << 24;  // counts are floats, exact to 2^24

// Output positions o ∈ [0, out) whose window o·stride + tap − pad falls inside [0, in).
int64_t valid_positions(int64_t out, int64_t in, int stride, int tap, int pad) {
  int64_t n = 0;
  for (int64_t o = 0; o < out; ++o) n += o * stride + tap - pad >= 0 && o * stride + tap - pad < in;
  return n;
}

// Mean synapses per presynaptic spike: the connections that exist (padding taps excluded, as the CPU
// simulator's tap tables have them) over the presynaptic neurons (before merged pooling).
double mean_fanout(const snn::Layer& l) {
  const int P = std::max(l.pool_in, 1);
  const int64_t C = l.in_shape[0], ph = l.in_shape[1] / P, pw = l.in_shape[2] / P;
  const int64_t O = l.out_shape[0], oh = l.out_shape[1], ow = l.out_shape[2];
  int64_t taps_y = 0, taps_x = 0;
  for (int k = 0; k < l.kernel; ++k) {
    taps_y += valid_positions(oh, ph, l.stride, k, l.padding);
    taps_x += valid_positions(ow, pw, l.stride, k, l.padding);
  }
  int64_t connected = 0;
  switch (l.kind) {
    case LayerKind::conv:
      connected = O * C * taps_y * taps_x;
      break;
    case LayerKind::depthwise_conv:
      connected = C * taps_y * taps_x;
      break;
    case LayerKind::dense:
      connected = l.weight.numel();
      break;
    case LayerKind::avgpool:
      connected = C * std::min(ph, oh * l.kernel) * std::min(pw, ow * l.kernel);
      break;
  }
  const int64_t pre = numel(l.in_shape);
  return pre ? static_cast<double>(connected * P * P) / static_cast<double>(pre) : 0.0;
}

// The layer's connections as event propagation enumerates them (backends/batched/snn_math.h).
EventLayer event_layer(const snn::Layer& l) {
  const int P = std::max(l.pool_in, 1);
  EventLayer g{};
  g.pool = P;
  g.C = l.in_shape[0], g.H = l.in_shape[1], g.W = l.in_shape[2];
  g.ph = g.H / P, g.pw = g.W / P;
  g.O = l.out_shape[0], g.OH = l.out_shape[1], g.OW = l.out_shape[2];
  g.K = l.kernel, g.S = l.stride, g.pad = l.padding;
  g.factor = 1.0f / static_cast<float>(P * P);
  switch (l.kind) {
    case LayerKind::conv:
      g.kind = EventKind::conv, g.fanout = g.O * g.K * g.K;
      break;
    case LayerKind::depthwise_conv:
      g.kind = EventKind::depthwise, g.fanout = int64_t{g.K} * g.K;
      break;
    case LayerKind::dense:
      g.kind = EventKind::dense, g.fanout = g.O;
      break;
    case LayerKind::avgpool:
      // Each input adds the pool's weight, as in the CPU simulator (the dense path takes the pooling op's mean
      // and multiplies by pool_weight·K², which rounds twice for a window that is not a power of two).
      g.kind = EventKind::avgpool, g.fanout = 1, g.S = g.K;
      g.factor *= l.pool_weight;
      break;
  }
  return g;
}

// One simulated layer on the device: its propagation graph (spikes in, synaptic input out, through the
// device's registered kernels) and its populations' state for a batch.
struct DeviceLayer {
  const snn::Layer* layer;
  NeuronStep k;
  int64_t neurons;
  float in_scale;  // avgpool computes the mean; the layer's weight per input may differ (Liu: 0.25 nA)
  std::unique_ptr<Graph> graph;
  NodeId spikes_in, synaptic_in;
  Tensor bias;  // per neuron (C, H, W), undefined without
  Tensor v, isyn, refractory, count, negative;
  // Event propagation: the geometry, the weights on the device, the step's spike list and its length (int32
  // in float tensors' storage, the allocation every device offers) and the synaptic input it makes.
  EventLayer events{};
  Tensor weight, spike_list, spike_count, event_input;
  int32_t* list() { return reinterpret_cast<int32_t*>(spike_list.raw()); }
  int32_t* listed() { return reinterpret_cast<int32_t*>(spike_count.raw()); }
  PopulationState state() {
    return {
        v.raw(),     isyn.defined() ? isyn.raw() : nullptr,         refractory.defined() ? refractory.raw() : nullptr,
        count.raw(), negative.defined() ? negative.raw() : nullptr, neurons};
  }
};

class Engine {
 public:
  Engine(const snn::Network& net, const Dataset& data, const SimOptions& opts, Device device, int64_t batch)
      : net_(net),
        data_(data),
        opts_(opts),
        device_(device),
        batch_(batch),
        kernels_(snn_kernels(device)),
        prims_(primitives(device)) {
    events_ = opts.propagation == Propagation::event;
    current_ = net.input.kind == snn::InputEncoding::current;
    last_ = opts.probe_layer >= 0 ? opts.probe_layer : static_cast<int>(net.layers.size()) - 1;
    n_input_ = numel(net.input_shape);
    Shape in{batch, net.input_shape[0], net.input_shape[1], net.input_shape[2]};
    for (int l = 0; l <= last_; ++l) {
      try {
        layers_.push_back(make_layer(net.layers[l], in));
      } catch (const OutOfMemory& e) {
        throw OutOfMemory(std::string(e.what()) + " (layer '" + net.layers[l].name + "')");
      }
      in = {batch, net.layers[l].out_shape[0], net.layers[l].out_shape[1], net.layers[l].out_shape[2]};
    }
    pixels_ = Tensor({batch * n_input_}, device);
    input_counts_ = Tensor({batch * n_input_}, device);
    labels_ = Tensor({batch}, device);
    correct_ = Tensor::zeros({opts.steps}, device);
    if (opts.probe_layer >= 0) probe_max_ = Tensor::zeros({net.layers[opts.probe_layer].out_shape[0]}, device);
    current_scale_ = current_input_scale(net);
    const uint64_t key = stream_seed(opts.seed, Stream::poisson_counter);
    input_ = {net.input.kind == snn::InputEncoding::poisson ? 1 : 0, net.input.max_rate_hz * net.dt_ms / 1000.0,
              static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32)};
  }

  // Simulates dataset images [first, first + count), count ≤ batch, into r and the per-layer totals.
  void run_batch(int64_t first, int64_t count, SimResult& r) {
    upload_batch(first, count);
    for (DeviceLayer& d : layers_) {
      prims_.fill(d.v.raw(), d.v.numel(), d.k.v_start);
      for (Tensor* t : {&d.isyn, &d.refractory, &d.count, &d.negative})
        if (t->defined()) prims_.fill(t->raw(), t->numel(), 0.0f);
      Tensor& s = d.graph->value(d.spikes_in);
      prims_.fill(s.raw(), s.numel(), 0.0f);
    }
    prims_.fill(input_counts_.raw(), input_counts_.numel(), 0.0f);
    Tensor constant;  // current input: the first layer's synaptic input, the same every step
    if (current_) {
      DeviceLayer& d0 = layers_[0];
      Tensor& x = d0.graph->value(d0.spikes_in);
      prims_.copy(x.raw(), pixels_.raw(), x.numel());
      prims_.scale(x.raw(), x.numel(), current_scale_);
      d0.graph->forward();
      constant = d0.graph->value(d0.synaptic_in).clone();
    }
    const bool delayed = net_.delay_steps > 0;
    for (int t = 0; t < opts_.steps; ++t) {
      if (!delayed) feed_input(first, count, t);
      // With a one-step delay, running the layers last to first makes every population read the spikes its
      // source fired in the previous step; first to last propagates within the step.
      for (int i = 0; i <= last_; ++i) {
        const int l = delayed ? last_ - i : i;
        DeviceLayer& d = layers_[l];
        const float* in = nullptr;
        float scale = d.in_scale;
        if (l == 0 && current_) {
          // The constant current, through the layer's input scale (an average pool's weight); with a delay the
          // CPU feeds it after the step, so the first step gets none.
          in = constant.raw();
          if (delayed && t == 0) scale = 0.0f;
        } else if (events_) {
          in = propagate_events(d, count);
        } else {
          d.graph->forward();
          in = d.graph->value(d.synaptic_in).raw();
        }
        if (l == opts_.probe_layer)
          kernels_.probe_max(in, scale, d.neurons, d.neurons / d.layer->out_shape[0], count, probe_max_.raw());
        float* out = l < last_ ? layers_[l + 1].graph->value(layers_[l + 1].spikes_in).raw() : nullptr;
        kernels_.step(d.k, d.state(), in, scale, d.bias.defined() ? d.bias.raw() : nullptr, out, count);
      }
      if (delayed) feed_input(first, count, t);
      if (opts_.probe_layer < 0) {
        const DeviceLayer& o = layers_.back();
        kernels_.readout(o.count.raw(), o.v.raw(), labels_.raw(), o.neurons, count, correct_.raw() + t);
      }
    }
    finish_batch(first, count, r);
  }

  // After the last batch: accuracy per step, the probe's maxima and the layer statistics.
  void finish(SimResult& r) {
    const std::vector<float> correct = correct_.to_vector();
    for (int t = 0; t < opts_.steps; ++t) r.correct[t] = static_cast<int64_t>(correct[t]);
    if (probe_max_.defined()) r.probe_max_input = probe_max_.to_vector();
    for (int l = 0; l <= last_; ++l) {
      LayerStats& s = stats_[l];
      s.name = net_.layers[l].name;
      s.neurons = layers_[l].neurons;
      s.fanout = mean_fanout(net_.layers[l]);
      if (l == 0) {
        s.presynaptic_spikes = current_ ? 0 : input_spikes_;
      } else {
        // A negative spike is sent as well as taken off the net count.
        const LayerStats& src = stats_[l - 1];
        for (int64_t c : src.neuron_spikes) s.presynaptic_spikes += c;
        s.presynaptic_spikes += 2 * src.negative_spikes;
      }
    }
    r.layers = std::move(stats_);
    finish_layer_stats(r.layers, r.images, opts_.steps * net_.dt_ms / 1000.0);
  }

 private:
  DeviceLayer make_layer(const snn::Layer& sl, const Shape& in) {
    DeviceLayer d;
    d.layer = &sl;
    d.k = neuron_step(net_, sl);
    d.neurons = sl.neurons();
    d.graph = std::make_unique<Graph>(device_);
    Graph& g = *d.graph;
    d.spikes_in = g.input("spikes", in);
    NodeId x = d.spikes_in;
    auto op = [&](const std::string& type, const Attrs& a, std::vector<NodeId> inputs) {
      std::vector<Shape> shapes;
      for (NodeId id : inputs) shapes.push_back(g.shape(id));
      return g.apply(type == "flatten" ? "flatten" : sl.name, make_op(type, a, device_, shapes), inputs);
    };
    if (sl.weight.defined()) d.weight = sl.weight.to(device_);
    // Event propagation needs the graph for its spike input only, and for the first layer's constant current.
    const bool through_graph = !events_ || (&sl == &net_.layers[0] && current_);
    const auto weight = [&] { return g.parameter("w", d.weight); };
    if (through_graph) {
      if (sl.pool_in > 1) x = op("avgpool2d", {{"kernel", sl.pool_in}}, {x});
      switch (sl.kind) {
        case LayerKind::conv:
          x = op("conv2d", {{"stride", sl.stride}, {"pad", sl.padding}}, {x, weight()});
          break;
        case LayerKind::depthwise_conv:  // weight [C, 1, K, K]: conv2d's [O, C/G, K, K] with G = C
          x = op("conv2d", {{"stride", sl.stride}, {"pad", sl.padding}, {"groups", sl.out_shape[0]}}, {x, weight()});
          break;
        case LayerKind::dense:
          x = op("flatten", {}, {x});
          x = op("dense", {}, {x, weight()});
          break;
        case LayerKind::avgpool:
          x = op("avgpool2d", {{"kernel", sl.kernel}}, {x});
          break;
      }
    }
    d.synaptic_in = x;
    d.in_scale = sl.kind == LayerKind::avgpool && through_graph ? sl.pool_weight * sl.kernel * sl.kernel : 1.0f;
    if (sl.bias.defined()) {
      const int64_t plane = d.neurons / sl.out_shape[0];
      std::vector<float> b(d.neurons);
      for (int64_t c = 0; c < sl.out_shape[0]; ++c)
        for (int64_t i = 0; i < plane; ++i) b[c * plane + i] = sl.bias_at(c, i);
      d.bias = Tensor::from({d.neurons}, b).to(device_);
    }
    if (events_ && !through_graph) {
      d.events = event_layer(sl);
      const int64_t pre = d.events.pre() * batch_;
      if (pre > INT32_MAX)
        fail_input("--batch", std::to_string(batch_) + " images give layer '" + sl.name + "' " + std::to_string(pre) +
                                  " presynaptic neurons, more than event propagation's 32-bit spike list indexes");
      d.spike_list = Tensor({pre}, device_);
      d.spike_count = Tensor({1}, device_);
      d.event_input = Tensor({batch_ * d.neurons}, device_);
    }
    const int64_t n = batch_ * d.neurons;
    d.v = Tensor({n}, device_);
    d.count = Tensor({n}, device_);
    if (net_.neuron == snn::NeuronModel::lif) d.isyn = Tensor({n}, device_), d.refractory = Tensor({n}, device_);
    if (net_.neuron == snn::NeuronModel::if_signed) d.negative = Tensor({n}, device_);
    stats_.emplace_back();
    stats_.back().neuron_spikes.assign(d.neurons, 0);
    return d;
  }

  void upload_batch(int64_t first, int64_t count) {
    prims_.from_host(pixels_.raw(), data_.image(first), count * n_input_);
    std::vector<float> labels(count);
    for (int64_t b = 0; b < count; ++b) labels[b] = static_cast<float>(data_.label(first + b));
    prims_.from_host(labels_.raw(), labels.data(), count);
  }

  // The layer's synaptic input from the spikes it was sent this step, spike by spike.
  const float* propagate_events(DeviceLayer& d, int64_t images) {
    const float* spikes = d.graph->value(d.spikes_in).raw();
    const int64_t pre = d.events.pre();
    kernels_.compact(spikes, pre, images, d.list(), d.listed());
    prims_.fill(d.event_input.raw(), images * d.neurons, 0.0f);
    kernels_.scatter(d.events, d.weight.defined() ? d.weight.raw() : nullptr, spikes, d.list(), d.listed(),
                     images * pre, d.event_input.raw());
    return d.event_input.raw();
  }

  void feed_input(int64_t first, int64_t count, int t) {
    if (current_) return;
    Tensor& x = layers_[0].graph->value(layers_[0].spikes_in);
    kernels_.input(input_, pixels_.raw(), n_input_, first, count, t, x.raw(), input_counts_.raw());
  }

  // The host reads the batch's results: the output layer's counts and potentials (the classes), each layer's
  // spikes per neuron, the negative and the input spikes.
  void finish_batch(int64_t first, int64_t count, SimResult& r) {
    if (opts_.probe_layer < 0) {
      const DeviceLayer& o = layers_.back();
      const int64_t classes = o.neurons;
      std::vector<float> counts(count * classes), v(count * classes);
      prims_.to_host(counts.data(), o.count.raw(), count * classes);
      prims_.to_host(v.data(), o.v.raw(), count * classes);
      for (int64_t b = 0; b < count; ++b) {
        const int64_t row = first - opts_.first_image + b;
        r.predicted[row] = static_cast<int32_t>(readout_class(&counts[b * classes], &v[b * classes], classes));
        for (int64_t j = 0; j < classes; ++j)
          r.output_counts[row * classes + j] = static_cast<int32_t>(counts[b * classes + j]);
      }
    }
    for (size_t l = 0; l < layers_.size(); ++l) {
      DeviceLayer& d = layers_[l];
      Tensor sums({d.neurons}, device_);
      kernels_.sum_images(d.count.raw(), d.neurons, count, sums.raw());
      const std::vector<float> host = sums.to_vector();
      for (int64_t j = 0; j < d.neurons; ++j) stats_[l].neuron_spikes[j] += static_cast<int64_t>(host[j]);
      if (d.negative.defined())
        stats_[l].negative_spikes += static_cast<int64_t>(prims_.sum(d.negative.raw(), count * d.neurons));
    }
    if (!current_) input_spikes_ += static_cast<int64_t>(prims_.sum(input_counts_.raw(), count * n_input_));
  }

  const snn::Network& net_;
  const Dataset& data_;
  const SimOptions& opts_;
  Device device_;
  int64_t batch_;
  const SnnKernels& kernels_;
  const DevicePrimitives& prims_;
  int last_ = 0;
  int64_t n_input_ = 0;
  bool current_ = false;
  bool events_ = false;  // --propagation event
  float current_scale_ = 1.0f;
  InputStep input_{};
  std::vector<DeviceLayer> layers_;
  std::vector<LayerStats> stats_;
  int64_t input_spikes_ = 0;
  Tensor pixels_, input_counts_, labels_, correct_, probe_max_;
};

// Images per batch: --batch, or as many as keep the neuron state near 64 M neurons (a few GB with the
// propagation buffers), at most kDefaultGpuBatch.
// A batch's spikes per neuron are summed in float: whole numbers stay exact while batch × steps ≤ 2^24, so
// a larger batch is cut down to that (results do not depend on the batch).
int64_t batch_size(const snn::Network& net, const SimOptions& opts, int64_t images) {
  const int64_t exact = std::max<int64_t>(1, kMaxSteps / opts.steps);
  if (opts.batch > 0) return std::min({opts.batch, images, exact});
  const int64_t per_image = std::max<int64_t>(1, net.neurons());
  return std::clamp<int64_t>((int64_t{64} << 20) / per_image, 1, std::min({kDefaultGpuBatch, images, exact}));
}

}  // namespace

NeuronStep neuron_step(const snn::Network& net, const snn::Layer& l) {
  const cpu::NeuronConstants k(net, l);
  const Model model = k.model == snn::NeuronModel::lif           ? Model::lif
                      : k.model == snn::NeuronModel::if_subtract ? Model::if_subtract
                      : k.model == snn::NeuronModel::if_signed   ? Model::if_signed
                                                                 : Model::if_reset_zero;
  return {model,
          k.threshold,
          k.v_start,
          k.v_reset,
          k.v_rest,
          k.p11,
          k.p22,
          k.p21,
          k.p20,
          k.i_offset,
          static_cast<float>(k.refractory_steps)};
}

Capabilities BatchedSimulator::capabilities() const {
  // The CPU simulator's neuron models, inputs and resets (the same step math). Dense first, so the default:
  // cuDNN's and cuBLAS's kernels, against event propagation's atomics (which one is faster on a GPU is not
  // measured yet; scripts/gpu_check.sh times both).
  Capabilities c = cpu::CpuSimulator().capabilities();
  c.propagations = {Propagation::dense, Propagation::event};
  c.options = {"--propagation", "--batch", "--first-image"};
  return c;
}

void BatchedSimulator::check_ready() const { snn_kernels(device_); }

SimResult BatchedSimulator::simulate(const snn::Network& net, const Dataset& data, const SimOptions& opts) {
  check_simulation(net, data, opts);
  if (opts.record_input) fail_input("--record-input", "the " + name_ + " simulator does not record input spikes");
  if (opts.steps > kMaxSteps)
    fail_input("--steps", std::to_string(opts.steps) + " is more than the " + name_ + " simulator counts exactly (" +
                              std::to_string(kMaxSteps) + ": spike counts are floats)");
  const auto start = std::chrono::steady_clock::now();
  SimResult r = start_result(net, data, opts);
  const int64_t batch = batch_size(net, opts, r.images);
  std::unique_ptr<Engine> made;
  try {  // every population's state and every layer's graph is allocated here, once
    made = std::make_unique<Engine>(net, data, opts, device_, batch);
  } catch (const OutOfMemory& e) {
    throw OutOfMemory("--batch: " + std::string(e.what()) + "; " + std::to_string(batch) + " images at once (" +
                      std::string(opts.batch > 0 ? "--batch" : "the default") + ") do not fit on " +
                      std::string(to_string(device_)) + ": give a smaller --batch");
  }
  Engine& engine = *made;
  for (int64_t done = 0; done < r.images; done += batch)
    engine.run_batch(opts.first_image + done, std::min(batch, r.images - done), r);
  engine.finish(r);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace sf::batched
