// What a model is built from: the `model:` section of an experiment, parsed by the training library
// (train/experiment.h) and stored in checkpoints. It lives here so that models/ needs nothing above it.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/attrs.h"
#include "core/tensor.h"

namespace sf {

// LDR log quantisation (ops/log_quantize.h): bits = 0 means off.
struct QuantSpec {
  int bits = 0;
  int fsr = 0;
  bool enabled() const { return bits > 0; }
};

// One layer of `arch: layers`, a chain spelled out layer by layer (what `spikeforge import` writes for a net
// trained elsewhere): an op type with its attributes, the shapes of its parameters in the op's input order, and
// of its state buffers (batch norm's running statistics).
struct LayerSpec {
  std::string name;
  std::string type;
  Attrs attrs;
  std::vector<std::pair<std::string, Shape>> params;
  std::vector<std::pair<std::string, Shape>> buffers;
};

struct ModelSpec {
  // From the dataset (datasets/dataset.h dataset_info), not from YAML: the per-sample input {C, H, W} and
  // the number of classes of the output layer.
  Shape input = {1, 28, 28};
  int classes = 10;
  std::string arch = "liu_small";   // liu_small | liu_large | mobilenet_v1 | layers
  std::string activation = "relu";  // one of kModelActivations
  double nsp_k = 0.17;              // Noisy Softplus k (seed default)
  double nsp_sigma = 1.0;           // Noisy Softplus σ (seed form: one fixed scalar)
  bool nsp_per_neuron = false;      // `sigma: per_neuron`: Liu's σ² = Σ ½w²|a| (k defaults to 0.31 then)
  double paf_scale = 1.0;           // Liu's parametric-activation scale p = S·τsyn on every activation
                                    // (default 1.085 when the model's own activation is per-neuron NSP,
                                    // else 1 — a ReLU run fine-tuned to NSP should set it explicitly)
  bool dense_bias = true;           // Keras Dense default; Liu's Matlab nets have none
  bool pool_activation = false;     // Liu's Matlab nets apply the activation after each pooling layer too
  int qcfs_levels = 8;              // qcfs (Bu 2022): quantisation levels L (model.levels)
  double qcfs_threshold = 8.0;      // qcfs: every layer's initial threshold λ (model.threshold; Bu's code: 8)
  QuantSpec weight_quant;           // model.ldr.weights
  QuantSpec act_quant;              // model.ldr.activations
  // mobilenet_v1 (Howard 2017, Keras layout; models/mobilenet.h)
  double alpha = 1.0;                          // width multiplier: every channel count × alpha
  int depth_multiplier = 1;                    // depthwise output channels per input channel
  std::string strides = "auto";                // cifar | imagenet | auto (cifar for inputs of 32 pixels or fewer)
  double dropout = 1e-3;                       // before the classifier (Keras default)
  std::string data_format = "channels_first";  // channels_first (NCHW) | channels_last (NHWC inside the net;
                                               // mobilenet_v1's default in experiment files)
  std::vector<LayerSpec> layers;               // arch: layers
};

// The values of `model.activation`, for every architecture (relu6 is MobileNet's; the Liu nets take it too;
// qcfs trains for low-latency conversion).
inline constexpr const char* kModelActivations[] = {"relu", "relu6", "softplus", "noisy_softplus", "qcfs"};

}  // namespace sf
