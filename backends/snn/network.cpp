#include "backends/snn/network.h"

#include <charconv>
#include <cmath>

#include "core/enum_names.h"
#include "core/error.h"
#include "core/json.h"

namespace sf::snn {

namespace {
constexpr std::pair<NeuronModel, const char*> kNeuronNames[] = {{NeuronModel::if_reset_zero, "if"},
                                                                {NeuronModel::if_subtract, "if_subtract"},
                                                                {NeuronModel::if_signed, "if_signed"},
                                                                {NeuronModel::lif, "lif"}};
constexpr std::pair<InputEncoding, const char*> kEncodingNames[] = {
    {InputEncoding::poisson, "poisson"}, {InputEncoding::current, "current"}, {InputEncoding::regular, "regular"}};
constexpr std::pair<LayerKind, const char*> kLayerNames[] = {{LayerKind::conv, "conv"},
                                                             {LayerKind::depthwise_conv, "depthwise_conv"},
                                                             {LayerKind::dense, "dense"},
                                                             {LayerKind::avgpool, "avgpool"}};
}  // namespace

const char* to_string(NeuronModel m) { return name_of(kNeuronNames, m); }
const char* to_string(InputEncoding e) { return name_of(kEncodingNames, e); }
const char* to_string(LayerKind k) { return name_of(kLayerNames, k); }
NeuronModel parse_neuron_model(const std::string& s) { return parse_name(kNeuronNames, s, "--neuron", "neuron model"); }
InputEncoding parse_input_encoding(const std::string& s) {
  return parse_name(kEncodingNames, s, "--input", "input encoding");
}

int64_t Network::neurons() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.neurons();
  return n;
}

int64_t Layer::synapses() const {
  int64_t n = 0;
  switch (kind) {
    case LayerKind::conv:
      n = neurons() * weight.dim(1) * kernel * kernel;
      break;
    case LayerKind::depthwise_conv:
    case LayerKind::avgpool:
      n = neurons() * kernel * kernel;
      break;
    case LayerKind::dense:
      n = weight.numel();
      break;
  }
  // Merged pooling: every pooled input stands for pool_in² presynaptic neurons, each with its own synapse.
  return pool_in > 0 ? n * pool_in * pool_in : n;
}

int64_t Network::synapses() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.synapses();
  return n;
}

namespace {

// A float as the double nearest its shortest decimal form, so that dump() writes it as the float it is, in at
// most 9 digits (0.1f: 0.1), not as the 17 of its exact binary value (0.10000000149011612); read back as a
// float it is the same number.
double as_written(float f) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, f).ptr;
  double d = 0;
  std::from_chars(buf, end, d);
  return d;
}

Json floats_json(const Tensor& t) {
  Json a = Json::array();
  for (int64_t i = 0; i < t.numel(); ++i) a.push_back(as_written(t[i]));
  return a;
}

}  // namespace

std::string to_json(const Network& net) {
  const LifParams& lif = net.lif;
  Json layers = Json::array();
  for (const auto& l : net.layers) {
    Json layer = {
        {"name", l.name},           {"kind", to_string(l.kind)}, {"in_shape", l.in_shape},
        {"out_shape", l.out_shape}, {"pool_in", l.pool_in},      {"kernel", l.kernel},
        {"stride", l.stride},       {"padding", l.padding},      {"pool_weight", static_cast<double>(l.pool_weight)},
        {"threshold", l.threshold}};
    if (l.weight.defined()) {
      layer["weight_shape"] = l.weight.shape();
      layer["weight"] = floats_json(l.weight);
    }
    if (l.bias.defined()) layer["bias"] = floats_json(l.bias);
    layers.push_back(std::move(layer));
  }
  const Json j = {{"format", "spikeforge-snn"},
                  {"version", 1},
                  {"source", net.source},
                  {"conversion", net.conversion},
                  {"input_shape", net.input_shape},
                  {"neuron", to_string(net.neuron)},
                  {"lif",
                   {{"cm", lif.cm},
                    {"tau_m", lif.tau_m},
                    {"tau_refrac", lif.tau_refrac},
                    {"v_rest", lif.v_rest},
                    {"v_reset", lif.v_reset},
                    {"v_thresh", lif.v_thresh},
                    {"tau_syn", lif.tau_syn},
                    {"i_offset", lif.i_offset}}},
                  {"input", {{"encoding", to_string(net.input.kind)}, {"max_rate_hz", net.input.max_rate_hz}}},
                  {"dt_ms", net.dt_ms},
                  {"delay_steps", net.delay_steps},
                  {"v_init", net.v_init},
                  {"layers", layers}};
  return json_text(j);
}

namespace {

int64_t conv_out(int64_t in, int kernel, int stride, int padding) { return (in + 2 * padding - kernel) / stride + 1; }

void check_finite(const Tensor& t, const std::string& where) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t[i])) fail_input(where, "non-finite value at index " + std::to_string(i));
}

}  // namespace

void validate(const Network& net) {
  if (net.input_shape.size() != 3) fail_input("snn", "input shape must be [C, H, W]");
  if (!(net.dt_ms > 0)) fail_input("snn", "dt must be > 0");
  if (net.delay_steps < 0 || net.delay_steps > 1) fail_input("snn", "delay_steps must be 0 or 1");
  if (net.layers.empty()) fail_input("snn", "the network has no layers");
  if (net.input.kind != InputEncoding::current &&
      !(net.input.max_rate_hz > 0 && net.input.max_rate_hz * net.dt_ms <= 1000))
    fail_input("--max-rate", "must be > 0 and at most one spike per step (1000 / dt Hz)");
  if (net.neuron == NeuronModel::lif) {
    const LifParams& p = net.lif;
    if (!(p.cm > 0 && p.tau_m > 0 && p.tau_syn > 0 && p.tau_refrac >= 0))
      fail_input("snn.lif", "cm, tau_m, tau_syn must be > 0 and tau_refrac ≥ 0");
    if (!(p.v_thresh > p.v_reset)) fail_input("snn.lif", "v_thresh must be above v_reset");
    if (p.tau_m == p.tau_syn) fail_input("snn.lif", "tau_m equal to tau_syn is not supported (singular propagator)");
    if (!std::isfinite(p.i_offset)) fail_input("snn.lif", "i_offset must be a number");
  }
  Shape prev = net.input_shape;
  for (const auto& l : net.layers) {
    const std::string where = "snn layer '" + l.name + "'";
    if (l.in_shape != prev)
      fail_input(where,
                 "reads " + sf::to_string(l.in_shape) + " but the previous population is " + sf::to_string(prev));
    if (l.out_shape.size() != 3) fail_input(where, "output shape must be [C, H, W]");
    Shape in = l.in_shape;
    if (l.pool_in > 0) in = {in[0], in[1] / l.pool_in, in[2] / l.pool_in};
    Shape expect;
    switch (l.kind) {
      case LayerKind::conv:
      case LayerKind::depthwise_conv: {
        if (l.kernel < 1 || l.stride < 1 || l.padding < 0) fail_input(where, "kernel and stride must be ≥ 1");
        const bool dw = l.kind == LayerKind::depthwise_conv;
        const int64_t o = dw ? in[0] : l.weight.defined() ? l.weight.dim(0) : -1;
        const Shape w{o, dw ? 1 : in[0], l.kernel, l.kernel};
        if (!l.weight.defined() || l.weight.shape() != w) fail_input(where, "weight must be " + sf::to_string(w));
        expect = {o, conv_out(in[1], l.kernel, l.stride, l.padding), conv_out(in[2], l.kernel, l.stride, l.padding)};
        break;
      }
      case LayerKind::dense:
        if (!l.weight.defined() || l.weight.ndim() != 2 || l.weight.dim(1) != numel(in))
          fail_input(where, "weight must be [O, " + std::to_string(numel(in)) + "]");
        expect = {l.weight.dim(0), 1, 1};
        break;
      case LayerKind::avgpool:
        if (l.kernel < 1) fail_input(where, "pool window must be ≥ 1");
        expect = {in[0], in[1] / l.kernel, in[2] / l.kernel};
        break;
    }
    if (l.out_shape != expect)
      fail_input(where, "output shape " + sf::to_string(l.out_shape) + ", expected " + sf::to_string(expect));
    if (l.bias.defined() && l.bias.numel() != l.out_shape[0] && l.bias.numel() != l.neurons())
      fail_input(where, "bias must have one value per channel or one per neuron");
    if (l.weight.defined()) check_finite(l.weight, where + " weight");
    if (l.bias.defined()) check_finite(l.bias, where + " bias");
    if (!(l.threshold > 0) || !std::isfinite(l.threshold)) fail_input(where, "threshold must be a positive number");
    prev = l.out_shape;
  }
  const Shape& out = net.layers.back().out_shape;
  if (out[1] != 1 || out[2] != 1) fail_input("snn", "the readout layer must be [classes, 1, 1] (a dense layer)");
}

}  // namespace sf::snn
