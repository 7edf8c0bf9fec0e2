// The NIR exporter: `convert --backend nir` writes the converted SNN as DIR/network.nir (HDF5, NIR's graph
// layout: backends/nir/nir_graph.h) and DIR/README.md, for Norse, snnTorch, Sinabs (Speck), Rockpool (Xylo),
// Lava-DL, Nengo and SpiNNaker2's py-spinnaker2.
//
// The conventions (README.md of the export repeats them):
//   - Continuous time with step dt (metadata `dt`, seconds). A spike is a unit impulse: through a weight w it
//     moves the membrane by r·w. So IF neurons get r = 1 and the trained weights; a bias b that spikeforge adds
//     every step is a current b / dt (stored as float64, so b comes back exactly); thresholds are θ; v_reset 0.
//   - IF_curr_exp (--neuron lif) is a CubaLIF: tau_mem = τm, tau_syn = τs (seconds), r = τm / cm (MΩ), v_leak =
//     v_rest, v_threshold, v_reset, and w_in = τs so that a spike of weight w (nA) raises the synaptic current
//     by w. Its direct current (bias + i_offset) enters as the Affine / Conv2d bias (b + i_offset) / τs, which
//     reaches the same steady current through the synapse's filter. The refractory period has no NIR field.
//   - NIR has no reset by subtraction: an if_subtract net is written with v_reset = 0 and the report warns
//     (`convert --backend cpu --export-exact nir` simulates what readers will run).
//   - Merged pooling becomes an AvgPool2d node before the weights; a spiking pooling population an AvgPool2d
//     (or SumPool2d + Scale) before its neurons, or, where it needs a bias, a depthwise Conv2d.
#pragma once
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/nir/nir_graph.h"
#include "backends/snn/network.h"

namespace sf::nir {

inline constexpr const char* kNirVersion = "1.0";

struct Export {
  Graph graph;
  std::vector<std::string> notes;  // approximations (reset by subtraction, refractory period, initial membrane)
};

// The network as a NIR graph; BadInput naming the layer for what NIR cannot hold (a per-neuron bias).
Export to_nir(const snn::Network& net);

// What a NIR reader runs of `net` (the network `--export-exact nir` simulates): reset to zero, no initial
// membrane, no synaptic delay, no refractory period.
snn::Network as_nir_exported(const snn::Network& net);

class NirBackend final : public Backend {
 public:
  std::string name() const override { return "nir"; }
  Capabilities capabilities() const override;
  void check_export(const std::string& dir, const ExportOptions& opts) const override;
  ExportResult export_to(const snn::Network& net, const Dataset& test, const ExportOptions& opts,
                         const std::string& dir) override;
};

}  // namespace sf::nir
