// NIR import: `convert network.nir` reads a NIR graph (ours or another tool's: Sinabs, Norse, snnTorch,
// SpikingJelly) into the SNN description and simulates it on the CPU backend. It takes the feed-forward chains
// the simulators run: Input → ([AvgPool2d | SumPool2d] → Conv2d | [Flatten] → Affine | Linear, or a pooling
// alone) → [Scale] → IF | CubaLIF → ... → Output, with Flatten anywhere. Edges may come in any order and node
// names are free ("0", "1", ...). Fields other tools leave out take NIR's defaults (IF v_reset 0, Conv2d
// stride 1, no padding, groups 1).
//
// Time: one step is the file's metadata `dt` (seconds), else 1 ms. A spike through weight w moves the membrane
// by r·w; a bias b adds r·b·dt per step (nir_export.h). A graph spikeforge cannot simulate is refused naming
// the node: a recurrent or branching edge, an unknown type, per-neuron thresholds that differ, a nonzero IF
// v_reset, NIR's plain LIF (no synaptic current), CubaLIF populations whose parameters differ, or a mix of
// neuron models.
#pragma once
#include <string>
#include <vector>

#include "backends/nir/nir_graph.h"
#include "backends/snn/network.h"

namespace sf::nir {

struct Import {
  snn::Network net;                // its input encoding is the caller's to set
  std::vector<std::string> notes;  // defaults assumed, what was folded
};

Import network_from_nir(const std::string& path);
// The same for a graph already read; `source` names it in messages.
Import network_from_graph(const Graph& g, const std::string& source);

bool is_nir_path(const std::string& path);  // ".nir"

}  // namespace sf::nir
