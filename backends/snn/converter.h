// ANN → SNN conversion: walks a trained Model layer by layer and builds the SNN description.
//   - BN folding into the preceding conv / dense (w·γ/√(var+ε), (b−μ)·γ/√(var+ε)+β);
//   - the activation's PAF scale p and LDR-quantised weights are folded in, so the SNN sees what the ANN saw;
//   - average pooling is merged into the next weighted layer (tensor_genn) or kept as a spiking population
//     with weights 1/k² (Liu's thesis; automatic for LIF and for nets with an activation after pooling);
//   - normalisation: none (trained weights as they are — Liu: as nA), data (Diehl 2015: λ_l =
//     max(max activation, max weight)), robust (Rueckauer 2017: λ_l = p-th percentile of the non-zero
//     activations), spike (Sengupta 2019: thresholds from the largest input seen while simulating, layer by
//     layer), qcfs (Bu 2022: λ_l = the QCFS layer's trained threshold; layers without one, the classifier, as
//     robust). data/robust/qcfs scale w_l by λ_(l−1)/λ_l and b_l by 1/λ_l, with threshold 1.
//   - MobileNet layers: conv2d with groups = channels becomes a depthwise population, BN folds from its running
//     statistics, ReLU6 caps λ at 6, global average pooling merges into the dense layer after it, and to_nhwc /
//     dropout are dropped (see find_stages).
//   - Softplus-family activations add their value at zero, f(0), to the neuron's bias (a rate is ≈ ReLU, and
//     ReLU(x + f(0)) ≈ f), unless ConvertOptions::softplus_offset is off;
//   - LIF (IF_curr_exp) with a normalisation maps unit weight to the g nA whose input at the top input rate
//     drives the neuron at that same rate through its f–I curve (see convert()).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/snn/activation_summary.h"
#include "backends/snn/network.h"
#include "datasets/channel_affine.h"
#include "datasets/dataset.h"
#include "models/model.h"

namespace sf::snn {

enum class Norm { none, data, robust, spike, qcfs };
const char* to_string(Norm n);
Norm parse_norm(const std::string& s);

enum class PoolMode { automatic, spiking, merged };
PoolMode parse_pool_mode(const std::string& s);

struct ConvertOptions {
  Norm norm = Norm::data;
  double percentile = 99.9;  // robust
  // data / robust: one λ per output channel of every hidden layer (Kim 2020, Spiking-YOLO's channel-wise
  // normalisation) instead of one per layer; the readout keeps one, so its spike counts stay comparable.
  bool channel_norm = false;
  NeuronModel neuron = NeuronModel::if_reset_zero;
  LifParams lif;
  Encoder input;
  double dt_ms = 1.0;
  double v_init = 0.0;  // IF initial membrane / threshold
  PoolMode pools = PoolMode::automatic;
  int64_t norm_images = 10000;      // data/robust: activations of the first N norm-set images
  int64_t spike_norm_images = 100;  // spike: images simulated per layer
  int spike_norm_steps = 0;         // spike: steps per image (0: 1000 ms / dt)
  uint64_t seed = 1;
  // Bias calibration (Li et al. 2021, "A free lunch from ANN", bias correction): after normalisation, layer by
  // layer from the input, each channel's bias is moved by the gap between its ANN activation and its SNN rate
  // (both in spikes per step, means over calibrate_images training images simulated for calibrate_steps). IF
  // neurons, with data, robust, qcfs or no normalisation. 0: off.
  int64_t calibrate_images = 0;
  int calibrate_steps = 0;      // the latency to calibrate for (the CLI: --steps unless given)
  bool softplus_offset = true;  // Softplus / fixed-σ Noisy Softplus: neuron input raised by f(0) (converter.cpp)
  // What the model reads is input_affine of the images the SNN encodes (the checkpoint's trailing normalize /
  // scale transforms): the ANN's activations are measured on the affine images, and the map is folded into
  // the first layer, so the SNN's input rates are the pixels in [0, 1]. Identity: the images themselves.
  ChannelAffine input_affine;
};

struct LayerScale {
  std::string name;
  double lambda = 1;  // the activation value that maps to threshold (data/robust) or the spike-norm threshold
  double max_activation = 0;
  std::vector<double> channel_lambda;  // channel-wise normalisation: each output channel's λ (else empty)
};

// What bias calibration did: the mean |p_in·a/λ − SNN rate| (spikes per step) per calibrated channel, before and
// after, on the calibration images (each layer measured once the layers below it were calibrated).
struct Calibration {
  int64_t channels = 0;
  double gap_before = 0, gap_after = 0;
};

struct Conversion {
  Network net;
  std::vector<LayerScale> scales;
  Calibration calibration;         // channels = 0 without --calibrate
  std::vector<std::string> notes;  // approximations made (e.g. softplus as ReLU), printed by the CLI
};

// norm_data: the images normalisation and calibration read (training set); may be empty for Norm::none without
// calibration. calibrator: a simulator, needed for Norm::spike and calibration. Unsupported layers raise BadInput
// naming the layer and the choices.
Conversion convert(const Model& model, const Dataset& norm_data, const ConvertOptions& opts,
                   Backend* calibrator = nullptr, const std::string& source = "");

// Folds y = γ·(x − μ)/√(var + ε) + β into the layer producing x. weight is [O, ...]; bias [O] (created if
// undefined).
void fold_batchnorm(Tensor& weight, Tensor& bias, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                    const Tensor& var, double eps);

// Runs rows [first, first + count) of `data`, through `input` (the model's input normalisation), through the
// model's own evaluation graph in batches and hands each batch's values of node_names[k] (layer names of
// `model`) to visit(k, values, value count, images in the batch), in node order within a batch and batches in
// image order.
using LayerOutputVisitor = std::function<void(size_t, const float*, int64_t, int64_t)>;
void for_each_layer_output(const Model& model, const Dataset& data, int64_t count,
                           const std::vector<std::string>& node_names, const LayerOutputVisitor& visit,
                           int64_t first = 0, const ChannelAffine& input = {});

// The values of each node as one flat vector (count × per-sample size).
std::vector<std::vector<float>> layer_outputs(const Model& model, const Dataset& data, int64_t count,
                                              const std::vector<std::string>& node_names, int64_t first = 0,
                                              const ChannelAffine& input = {});

// Each node's values summarised as they stream past (max, mean, `percentile` of the positive values), so
// normalisation over many images of a large net does not hold all its activations.
std::vector<ActivationSummary> summarise_layer_outputs(const Model& model, const Dataset& data, int64_t count,
                                                       const std::vector<std::string>& node_names, double percentile,
                                                       const ChannelAffine& input = {});

// The p-th percentile (0 < p ≤ 100) of the positive values, by nearest rank; 0 when none is positive.
double positive_percentile(std::vector<float> values, double p);

}  // namespace sf::snn
