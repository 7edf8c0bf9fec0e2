// The SNN description (IR): what a converter produces and every backend (CPU / CUDA simulators, the
// SpiNNaker exporter) consumes. It names no simulator and holds no state: a chain of synaptic layers, each
// feeding one population of identical spiking neurons, plus the input encoder and the readout.
//
// Units. IF neurons are dimensionless: a spike of weight w adds w to the membrane, a bias adds b every
// step, the layer fires at v ≥ threshold. LIF neurons follow PyNN's IF_curr_exp: weights are nA added
// to an exponentially decaying synaptic current, voltages in mV, times in ms, the threshold is
// lif.v_thresh (per-layer `threshold` is unused).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sf::snn {

enum class NeuronModel {
  if_reset_zero,  // "if": integrate and fire, reset to 0 (Diehl 2015, tensor_genn)
  if_subtract,    // "if_subtract": reset by subtracting the threshold (Rueckauer 2017)
  // "if_signed": if_subtract that also fires a negative spike (v ← v + θ, the spike's weights negated) when v
  // falls below 0 while its net count (positive − negative spikes) is above 0. From v(0) = θ/2, with each
  // step's input (bias included) within ±θ, the net count is then max(0, floor(1/2 + Σ input / θ)) whatever
  // the order the input arrives in: no unevenness error of low-latency conversion (Bu 2022 §4); input beyond
  // ±θ in a step lags by the spikes one step cannot send (signed neurons: Wang et al. 2022, IJCAI). No
  // exporter here takes negative spikes.
  if_signed,
  lif,  // "lif": current-based LIF with an exponential synapse (PyNN IF_curr_exp)
};

// PyNN IF_curr_exp parameters, defaults from Liu's thesis (Liu 2017, PhD thesis; README.md, "Converting to
// spiking networks", lists them).
struct LifParams {
  double cm = 0.25;         // nF
  double tau_m = 20.0;      // ms
  double tau_refrac = 1.0;  // ms
  double v_rest = -65.0;    // mV
  double v_reset = -65.0;   // mV
  double v_thresh = -50.0;  // mV
  double tau_syn = 5.0;     // ms, both tau_syn_E and tau_syn_I (an export writes it to both)
  double i_offset = 0.1;    // nA, constant current into every neuron (8 mV at rest: it narrows the leak's
                            // dead zone below threshold, for normalised nets too)
};

// Exact one-step propagators of IF_curr_exp at step h (NEST iaf_psc_exp): i_syn ← i_syn·p11 + input;
// v ← v_rest + (v − v_rest)·p22 + i_syn·p21 + I_direct·p20.
struct LifPropagators {
  double p11, p22, p20, p21;
  LifPropagators(const LifParams& p, double h)
      : p11(std::exp(-h / p.tau_syn)),
        p22(std::exp(-h / p.tau_m)),
        p20(p.tau_m / p.cm * (1.0 - p22)),
        p21(p.tau_m * p.tau_syn / (p.cm * (p.tau_syn - p.tau_m)) * (p11 - p22)) {}
};

enum class InputEncoding {
  poisson,  // each pixel spikes with probability pixel · max_rate · dt per step
  current,  // the pixel value is injected as a constant current every step (analog input)
  regular,  // deterministic spike train at pixel · max_rate (a phase accumulator per pixel)
};

struct Encoder {
  InputEncoding kind = InputEncoding::poisson;
  double max_rate_hz = 200.0;  // rate of a pixel of value 1 (poisson, regular)
};

enum class LayerKind {
  conv,            // weight [O, C, KH, KW]
  depthwise_conv,  // weight [C, 1, KH, KW], one filter per channel
  dense,           // weight [O, I]; I indexes the previous population flattened in C, H, W order
  avgpool,         // no weight tensor: every input in a pool x pool window adds `pool_weight`
};

struct Layer {
  std::string name;  // the ANN layer it came from ("conv1", "pool1", "dense")
  LayerKind kind = LayerKind::conv;
  Shape in_shape;   // [C, H, W] of the population (or input) it reads, before pool_in
  Shape out_shape;  // [C, H, W] of its own population; dense: [O, 1, 1]
  // An average pooling applied to the incoming spikes before the weights (a non-spiking ANN avgpool merged
  // into the next layer, as tensor_genn does): pool_in x pool_in windows, stride pool_in. 0 = none.
  int pool_in = 0;
  int kernel = 0;  // conv/depthwise: kernel size (square); avgpool: window (= stride)
  int stride = 1, padding = 0;
  float pool_weight = 0.0f;  // avgpool: weight of each input (1/k² for IF; Liu: 0.25 nA)
  Tensor weight;
  // IF: added to v every step, LIF: constant current (nA). Empty = none. One value per output channel [O], or
  // one per neuron [O, H, W] where an input normalisation folded into a padded convolution (the padding's
  // taps add nothing, so border neurons get less of the shift; converter.cpp fold_input_affine).
  Tensor bias;
  bool per_neuron_bias() const { return bias.defined() && bias.numel() != out_shape[0]; }
  // The bias of neuron i of channel c (i indexes the channel's H·W plane).
  float bias_at(int64_t c, int64_t i) const {
    return per_neuron_bias() ? bias[c * out_shape[1] * out_shape[2] + i] : bias[c];
  }
  double threshold = 1.0;  // IF threshold
  int64_t neurons() const { return numel(out_shape); }
  int64_t synapses() const;  // connections from the source population (merged pooling expanded)
};

struct Network {
  Shape input_shape;  // [C, H, W]
  NeuronModel neuron = NeuronModel::if_reset_zero;
  LifParams lif;
  Encoder input;
  double dt_ms = 1.0;
  int delay_steps = 0;  // synaptic delay between layers: 0 (snn_toolbox, tensor_genn) or 1 (PyNN, 1 ms)
  double v_init = 0.0;  // initial IF membrane as a fraction of the threshold (Bu 2022: 0.5)
  std::vector<Layer> layers;
  std::string source;      // checkpoint it was converted from
  std::string conversion;  // "data", "robust", "spike", "none", "liu"
  int64_t neurons() const;
  int64_t synapses() const;  // connections, counting each conv kernel tap once per output position
};

const char* to_string(NeuronModel m);
const char* to_string(InputEncoding e);
const char* to_string(LayerKind k);
NeuronModel parse_neuron_model(const std::string& s);  // BadInput naming the choices
InputEncoding parse_input_encoding(const std::string& s);

// The IR as JSON (format "spikeforge-snn", version 1): every field above, weights as flat arrays in the
// tensors' own (OIHW / [O, I]) order. Backends outside this process (the PyNN exporter, the Brian2 bench)
// read this file.
std::string to_json(const Network& net);

// Checks shapes, weights and parameters; BadInput naming the layer.
void validate(const Network& net);

}  // namespace sf::snn
