// The CPU simulator of the SNN description: images in parallel over OpenMP threads (one image's state, a
// few tens of KB for the Liu nets, stays in L1/L2), two interchangeable propagation kernels:
//   event — each spike scatters its fan-out into the next population's input (work ∝ spikes); populations
//           are kept channels-last so a conv spike adds one contiguous O-vector per kernel tap;
//   dense — per step, the whole batch's 0/1 spike tensors go through the oneDNN convolution / inner product
//           kernels of the training ops (work ∝ synapses, but GEMM-efficient).
// README.md ("Converting to spiking networks") gives the measured comparison; event is the default.
#pragma once
#include "backends/backend.h"

namespace sf::cpu {

class CpuSimulator final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  Capabilities capabilities() const override;
  SimResult simulate(const snn::Network& net, const Dataset& data, const SimOptions& opts) override;
};

}  // namespace sf::cpu
