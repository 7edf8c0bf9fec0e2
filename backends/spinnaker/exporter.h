// The SpiNNaker backend: exports an SNN description as a plain PyNN project (run.py + connection lists +
// the test images' input spike trains) that runs unchanged on sPyNNaker or pyNN.brian2, with a resource
// report (cores, synapses, rows, SDRAM, chips, delays, 16-bit weight quantisation) no peer tool gives.
#pragma once
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/snn/network.h"
#include "datasets/dataset.h"

namespace sf::spinnaker {

// How convolution layers reach the board: connection lists (any PyNN backend), or sPyNNaker 7's local-only
// ConvolutionConnector (one kernel per channel pair instead of one synapse per pixel pair; sPyNNaker only,
// run.py keeps the lists for every other simulator).
using ConvConnector = sf::ConvConnector;
ConvConnector parse_conv_connector(const std::string& s);  // BadInput naming the choices

struct ExportOptions {
  std::string out_dir;
  int64_t images = 100;       // test images whose input spikes are exported
  int steps = 1000;           // per image
  int neurons_per_core = 256;
  uint64_t seed = 1;          // Poisson input: the same streams as the CPU backend (same seed → same spikes)
  bool force = false;         // allow a non-empty out_dir
  ConvConnector conv_connector = ConvConnector::list;
};

// Why sPyNNaker 7's ConvolutionConnector cannot reproduce this layer exactly ("" when it can): it takes
// stride-1, odd, square kernels with no or "same" padding, on inputs the merged pooling divides evenly.
std::string convolution_unsupported(const snn::Layer& layer);

// One pre→post synapse in PyNN indices (populations flattened in C, H, W order).
struct Synapse {
  int32_t pre, post;
  float weight;
};
// The layer's synapses, zero weights left out; merged pooling composed into the weights.
std::vector<Synapse> expand_layer(const snn::Layer& layer);

struct ProjectionReport {
  std::string name;       // "<layer>_exc" / "<layer>_inh"
  std::string receptor;   // excitatory | inhibitory
  int64_t synapses = 0;
  int64_t longest_row = 0;  // most synapses from one presynaptic neuron
  double max_weight = 0;    // |w|
  double weight_lsb = 0;    // 16-bit resolution chosen for this synapse type (power of two)
  int64_t zero_weights = 0; // weights that round to 0 at that resolution
  double max_relative_error = 0;
};

struct PopulationReport {
  std::string name;
  int64_t neurons = 0, cores = 0;
  double sdram_mb = 0;  // its incoming synaptic matrix (or kernels) and neuron state
  int64_t chips = 0;    // what it alone needs: by cores or by SDRAM, whichever is more
  // --conv-connector convolution: a layer read or written by a ConvolutionConnector runs as one 2-D
  // population per channel, split over cores in tile_w × tile_h tiles (run.py reads this layout).
  int64_t channels = 0;  // 0: one population
  int64_t tile_w = 0, tile_h = 0;
};

struct Report {
  std::vector<PopulationReport> populations;
  std::vector<ProjectionReport> projections;
  int64_t cores = 0, chips = 0, synapses = 0;
  double sdram_mb = 0;
  // A SpiNN-5 board has 48 chips: the boards the whole network needs, and why one is not enough (cores,
  // SDRAM); empty when it fits.
  int64_t boards = 0;
  std::vector<std::string> board_limits;
  int delay_min_ticks = 0, delay_max_ticks = 0;
  std::vector<std::string> convolution_layers;  // exported for sPyNNaker's ConvolutionConnector
  std::vector<std::string> warnings;
  std::string text() const;  // the printed report
  std::string json() const;  // resources.json
};

// The refusals that need no network (non-empty folder without force, analog input), for callers that want
// them before a long conversion; export_project applies them too. check_folder: the folder alone.
void check_export(const std::string& out_dir, bool force, snn::InputEncoding input);
void check_folder(const std::string& out_dir, bool force);

// Writes the project into opts.out_dir and returns the report. BadInput for a non-empty folder without
// force, a neuron count per core outside 1..256, or a network the board could not run.
Report export_project(const snn::Network& net, const Dataset& test, const ExportOptions& opts);

// The resource report alone (no files).
Report analyse(const snn::Network& net, int neurons_per_core, ConvConnector conv = ConvConnector::list);

// What the export describes, for the CPU simulator: cells reset to a value (no PyNN standard cell resets by
// subtraction), a one-step delay per layer (PyNN's minimum; IF conversions otherwise propagate within the
// step) and, when quantise, every weight rounded to its synapse type's 16-bit resolution.
snn::Network as_exported(const snn::Network& net, bool quantise);

}  // namespace sf::spinnaker
