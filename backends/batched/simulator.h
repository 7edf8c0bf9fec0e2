// The batched simulator: the GPU's (`convert --backend cuda`), written once for any device. A batch of images
// advances one step at a time, every population's state resident on the device: per layer and step the
// previous layer's 0/±1 spike tensor goes through the training ops' convolution / dense / pooling kernels of
// that device (cuDNN and cuBLAS on a GPU; --propagation dense, the default) or, with --propagation event,
// is compacted into a list of spikes whose synapses are scattered into the layer's input (work ∝ spikes);
// then one fused kernel updates the neurons and writes their spikes as the next layer's input
// (backends/batched/kernels.h). Accuracy per step is counted on the device; the host
// reads results once per batch. On Device::cpu the same engine runs with the CPU kernels: that is how the
// tests check it on a machine without a GPU (users on a CPU run backends/cpu: this engine is registered as
// the cuda backend only).
#pragma once
#include <string>

#include "backends/backend.h"
#include "backends/batched/snn_math.h"
#include "core/device.h"

namespace sf::batched {

class BatchedSimulator final : public Backend {
 public:
  BatchedSimulator(std::string name, Device device) : name_(std::move(name)), device_(device) {}
  std::string name() const override { return name_; }
  Capabilities capabilities() const override;
  void check_ready() const override;
  SimResult simulate(const snn::Network& net, const Dataset& data, const SimOptions& opts) override;

 private:
  std::string name_;
  Device device_;
};

// Layer `l`'s neuron constants for the kernels (the CPU simulator's cpu::NeuronConstants).
NeuronStep neuron_step(const snn::Network& net, const snn::Layer& l);

// Images per batch when --batch is not given: a GPU needs thousands of neurons per kernel to be busy, and a
// Liu net's batch of 1024 holds a few million neurons.
inline constexpr int64_t kDefaultGpuBatch = 1024;

}  // namespace sf::batched
