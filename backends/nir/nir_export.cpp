#include "backends/nir/nir_export.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/io.h"

namespace sf::nir {
namespace {

using snn::LayerKind;

Shape population_shape(const snn::Layer& l) { return l.kind == LayerKind::dense ? Shape{l.out_shape[0]} : l.out_shape; }

Field filled(const Shape& shape, double v) {
  return Field::f32(shape, std::vector<float>(numel(shape), static_cast<float>(v)));
}
// Time constants in seconds do not survive float32 (5 ms comes back as 4.9999999 ms): float64.
Field filled64(const Shape& shape, double v) { return Field::f64(shape, std::vector<double>(numel(shape), v)); }

Field pair(int64_t v) { return Field::i64({2}, {v, v}); }

// A Conv2d node: `groups` input channel groups, reading h × w maps.
Node conv2d(Field weight, std::vector<double> bias, int64_t stride, int64_t padding, int64_t groups, int64_t h,
            int64_t w) {
  const int64_t o = weight.dims.at(0);
  return Node{"Conv2d",
              {{"weight", std::move(weight)},
               {"bias", Field::f64({o}, std::move(bias))},
               {"stride", pair(stride)},
               {"padding", pair(padding)},
               {"dilation", pair(1)},
               {"groups", Field::scalar(groups)},
               {"input_shape", Field::i64({2}, {h, w})}}};
}

// An unpadded AvgPool2d or SumPool2d node of k × k windows, stride k.
Node pool2d(const char* type, int64_t k) {
  return Node{type, {{"kernel_size", pair(k)}, {"stride", pair(k)}, {"padding", pair(0)}}};
}

class Builder {
 public:
  explicit Builder(const snn::Network& net) : net_(net), dt_s_(net.dt_ms / 1000.0) {}

  Export build() {
    const bool lif = net_.neuron == snn::NeuronModel::lif;
    Node input{"Input", {{"shape", Field::i64({3}, {net_.input_shape.begin(), net_.input_shape.end()})}}};
    add("input", std::move(input));
    for (const snn::Layer& l : net_.layers) layer(l, lif);
    const Shape out = population_shape(net_.layers.back());
    add("output", Node{"Output", {{"shape", Field::i64({static_cast<int64_t>(out.size())}, out)}}});
    out_.graph.version = kNirVersion;
    out_.graph.metadata = {{"dt", Field::f64({}, {dt_s_})},
                           {"producer", Field::string("spikeforge")},
                           {"source", Field::string(net_.source)},
                           {"conversion", Field::string(net_.conversion)},
                           {"neuron", Field::string(snn::to_string(net_.neuron))},
                           {"input_encoding", Field::string(snn::to_string(net_.input.kind))},
                           {"input_max_rate_hz", Field::f64({}, {net_.input.max_rate_hz})}};
    if (net_.neuron == snn::NeuronModel::if_subtract)
      out_.notes.push_back(
          "reset by subtraction has no NIR form: the IF nodes reset to v_reset = 0, as readers will "
          "run them (convert --backend cpu --export-exact nir simulates that)");
    if (net_.v_init != 0)
      out_.notes.push_back("the initial membrane (--v-init " + std::to_string(net_.v_init) +
                           " of θ) has no NIR field: readers start at 0");
    if (net_.delay_steps > 0) out_.notes.push_back("the one-step synaptic delays are not written (no Delay nodes)");
    if (lif && net_.lif.tau_refrac > 0)
      out_.notes.push_back("CubaLIF has no refractory period: tau_refrac " + std::to_string(net_.lif.tau_refrac) +
                           " ms is dropped");
    return std::move(out_);
  }

 private:
  void add(const std::string& name, Node n) {
    if (!prev_.empty()) out_.graph.edges.push_back({prev_, name});
    out_.graph.nodes.push_back({name, std::move(n)});
    prev_ = name;
  }

  // The bias a node carries for a neuron's per-step input b (plus i_offset for LIF): see nir_export.h.
  std::vector<double> bias(const snn::Layer& l, int64_t channels, bool lif) const {
    if (l.per_neuron_bias())
      fail_input("layer '" + l.name + "'",
                 "has a per-neuron bias (an input normalisation folded into a padded convolution), which a NIR "
                 "Conv2d cannot hold; convert without the dataset's normalize transform");
    std::vector<double> b(channels, 0.0);
    for (int64_t c = 0; c < channels; ++c) {
      const double v = (l.bias.defined() ? l.bias[c] : 0.0) + (lif ? net_.lif.i_offset : 0.0);
      b[c] = lif ? v / (net_.lif.tau_syn / 1000.0) : v / dt_s_;
    }
    return b;
  }

  bool needs_bias(const snn::Layer& l, bool lif) const { return l.bias.defined() || (lif && net_.lif.i_offset != 0); }

  void layer(const snn::Layer& l, bool lif) {
    const Shape& in = l.in_shape;
    if (l.pool_in > 0) add(l.name + "_pool", pool2d("AvgPool2d", l.pool_in));
    const int64_t h = l.pool_in > 0 ? in[1] / l.pool_in : in[1], w = l.pool_in > 0 ? in[2] / l.pool_in : in[2];
    switch (l.kind) {
      case LayerKind::conv:
      case LayerKind::depthwise_conv: {
        add(l.name, conv2d(Field::f32(l.weight.shape(), l.weight.to_vector()), bias(l, l.weight.dim(0), lif), l.stride,
                           l.padding, l.kind == LayerKind::depthwise_conv ? in[0] : 1, h, w));
        break;
      }
      case LayerKind::dense: {
        const int64_t o = l.weight.dim(0);
        if (!prev_flat_) {  // a dense layer reads its source flattened in C, H, W order
          Node f{"Flatten",
                 {{"start_dim", Field::scalar(0)},
                  {"end_dim", Field::scalar(-1)},
                  {"input_type", Field::i64({3}, {in[0], h, w})}}};
          add(l.name + "_flatten", std::move(f));
        }
        Node n{needs_bias(l, lif) ? "Affine" : "Linear",
               {{"weight", Field::f32(l.weight.shape(), l.weight.to_vector())}}};
        if (needs_bias(l, lif)) n.fields["bias"] = Field::f64({o}, bias(l, o, lif));
        add(l.name, std::move(n));
        break;
      }
      case LayerKind::avgpool: {
        const int64_t k = l.kernel, c = in[0];
        if (needs_bias(l, lif)) {
          // A pooling population with a bias current: a depthwise convolution of constant taps holds both.
          const std::vector<float> taps(c * k * k, l.pool_weight);
          add(l.name, conv2d(Field::f32({c, 1, k, k}, taps), bias(l, c, lif), k, 0, c, in[1], in[2]));
        } else if (std::abs(l.pool_weight * k * k - 1.0) < 1e-6) {
          add(l.name, pool2d("AvgPool2d", k));
        } else {
          add(l.name, pool2d("SumPool2d", k));
          add(l.name + "_scale", Node{"Scale", {{"scale", filled(l.out_shape, l.pool_weight)}}});
        }
        break;
      }
    }
    add(l.name + (lif ? "_lif" : "_if"), neurons(l, lif));
    prev_flat_ = l.kind == LayerKind::dense;
  }

  Node neurons(const snn::Layer& l, bool lif) const {
    const Shape s = population_shape(l);
    if (!lif)
      return Node{"IF", {{"r", filled(s, 1.0)}, {"v_threshold", filled(s, l.threshold)}, {"v_reset", filled(s, 0.0)}}};
    const snn::LifParams& p = net_.lif;
    return Node{"CubaLIF",
                {{"tau_mem", filled64(s, p.tau_m / 1000.0)},
                 {"tau_syn", filled64(s, p.tau_syn / 1000.0)},
                 {"r", filled64(s, p.tau_m / p.cm)},
                 {"v_leak", filled64(s, p.v_rest)},
                 {"v_threshold", filled64(s, p.v_thresh)},
                 {"v_reset", filled64(s, p.v_reset)},
                 {"w_in", filled64(s, p.tau_syn / 1000.0)}}};
  }

  const snn::Network& net_;
  const double dt_s_;
  Export out_;
  std::string prev_;
  bool prev_flat_ = false;  // the last population is a dense layer's (1-D)
};

std::string readme(const snn::Network& net, const Export& e) {
  std::string nodes;
  for (const auto& [name, n] : e.graph.nodes) nodes += "- `" + name + "`: " + n.type + "\n";
  std::string notes;
  for (const auto& n : e.notes) notes += "- " + n + "\n";
  char dt[32];
  std::snprintf(dt, sizeof dt, "%g", net.dt_ms / 1000.0);
  return "# " + net.source +
         " as a NIR graph\n\n"
         "`network.nir` is the spiking network spikeforge converted (" +
         net.conversion + " normalisation, " + snn::to_string(net.neuron) +
         " neurons), in the NIR graph layout (HDF5; NIR " + kNirVersion +
         "). Read it with `nir.read(\"network.nir\")` and hand it to any NIR reader.\n\n"
         "## Conventions\n\n"
         "- Continuous time, simulated by spikeforge in steps of dt = " +
         dt +
         " s (metadata `dt`).\n"
         "- A spike is a unit impulse: through a weight w it moves the receiving membrane (IF) or synaptic current "
         "(CubaLIF, via w_in = tau_syn) by w. IF nodes have r = 1.\n"
         "- Biases are currents per second: spikeforge adds b to an IF membrane every step, written as b / dt. "
         "A reader that adds the bias once per step unscaled must multiply it by dt.\n"
         "- IF thresholds are the converted thresholds θ; v_reset = 0. NIR has no reset by subtraction.\n"
         "- CubaLIF (PyNN IF_curr_exp): tau_mem, tau_syn in seconds, r = τm / cm in MΩ (mV per nA), v_leak = "
         "v_rest, thresholds and resets in mV; the direct current (bias + i_offset, nA) is the bias / tau_syn.\n"
         "- Input: `" +
         snn::to_string(net.input.kind) +
         "` encoding of pixels in [0, 1] (metadata "
         "`input_encoding`; a pixel of 1 spikes at `input_max_rate_hz` for poisson / regular input, or is a "
         "current of 1 per step for current input).\n\n"
         "## Nodes (in order; `edges` chain them)\n\n" +
         nodes + (notes.empty() ? "" : "\n## Approximations\n\n" + notes);
}

}  // namespace

namespace {
// NIR's neurons have no negative spikes (conversion_run refuses if_signed before converting).
void check_exportable(const snn::Network& net) {
  if (net.neuron == snn::NeuronModel::if_signed) fail_input("--neuron", "NIR has no signed (if_signed) neurons");
}
}  // namespace

Export to_nir(const snn::Network& net) {
  snn::validate(net);
  check_exportable(net);
  return Builder(net).build();
}

snn::Network as_nir_exported(const snn::Network& net) {
  check_exportable(net);
  snn::Network out = net;
  if (out.neuron == snn::NeuronModel::if_subtract) out.neuron = snn::NeuronModel::if_reset_zero;
  out.v_init = 0;
  out.delay_steps = 0;
  out.lif.tau_refrac = 0;  // CubaLIF has no refractory period
  return out;
}

Capabilities NirBackend::capabilities() const {
  Capabilities c;
  c.exports = true;
  c.neurons = {snn::NeuronModel::if_reset_zero, snn::NeuronModel::if_subtract, snn::NeuronModel::lif};
  c.inputs = {snn::InputEncoding::poisson, snn::InputEncoding::current, snn::InputEncoding::regular};
  c.resets = {ResetMode::to_value};
  c.approximated_resets = {ResetMode::subtract};  // the report warns
  c.options = {"--force"};
  c.calibrator = "cpu";
  c.default_images = 100;  // only the ANN accuracy line reads test images; the export holds none
  return c;
}

void NirBackend::check_export(const std::string& dir, const ExportOptions& opts) const {
  namespace fs = std::filesystem;
  if (dir.empty()) fail_input("--out", "the NIR backend needs an output folder");
  if (fs::exists(dir / fs::path("network.nir")) && !opts.force)
    fail_input(dir, "already holds a network.nir; pass --force to replace it");
}

ExportResult NirBackend::export_to(const snn::Network& net, const Dataset& test, const ExportOptions& opts,
                                   const std::string& dir) {
  check_export(dir, opts);
  const auto start = std::chrono::steady_clock::now();
  const Export e = to_nir(net);
  make_dirs(dir);
  write_graph(dir + "/network.nir", e.graph);
  write_file_atomic(dir + "/README.md", readme(net, e));
  ExportResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.report = "NIR graph: " + std::to_string(e.graph.nodes.size()) + " nodes, " + std::to_string(e.graph.edges.size()) +
             " edges, " + std::to_string(net.neurons()) + " neurons, " + std::to_string(net.synapses()) + " synapses";
  for (const auto& n : e.notes) r.report += "\nwarning: " + n;
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", r.seconds);
  r.message = "exported in " + std::string(seconds) + " s to " + dir + "/{network.nir,README.md}\n" +
              "read: python3 -c \"import nir; print(nir.read('" + dir + "/network.nir'))\"\n";
  return r;
}

}  // namespace sf::nir
