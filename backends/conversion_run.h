// `spikeforge convert` as a library call: load a checkpoint (or an ONNX file), convert it, and hand it to a backend
// (make_backend(opts.backend)). A simulator's run becomes the result folder — summary.json,
// accuracy_vs_time.csv/.svg, layers.csv, predictions.csv, network.json (the SNN description) and, when asked,
// input_spikes.csv, every file written atomically; an exporter writes its own project folder. The driver asks
// the backend's capabilities() only: what it refuses (a flag, neuron model, input encoding, reset mode or
// propagation the backend does not take) is refused before converting, with BadInput naming the flag.
#pragma once
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/snn/converter.h"

namespace sf {

struct ConvertRunOptions {
  std::string checkpoint;
  std::string backend = "cpu";
  std::string out_dir;  // empty: <checkpoint folder>/convert-<backend>
  std::string dataset;  // empty: the checkpoint's
  std::string data_dir;
  snn::ConvertOptions convert;
  SimOptions sim;
  bool quiet = false;  // no progress lines on stdout
  // Simulators with "--export-exact" in their options: simulate what an export describes. "spinnaker": cells
  // reset to a value, one-step delays, 16-bit weights; "nir": reset to zero, no initial membrane or delay.
  // Empty: off.
  std::string export_exact;
  // Exporters: the export's options (images default to the backend's default_images, 100 for spinnaker).
  int neurons_per_core = 256;
  ConvConnector conv_connector = ConvConnector::list;
  bool force = false;
  // The command-line flags given explicitly ("--batch"). One that is a backend-specific option of some
  // registered backend but not of this one is refused (it would be ignored); export_exact and
  // sim.record_input count as given when set.
  std::vector<std::string> flags_given;
};

struct AccuracyWindow {
  int step;
  double accuracy;
};

struct ConvertRunResult {
  std::string out_dir;
  double ann_accuracy = 0;
  SimResult sim;
  snn::Conversion conversion;
  std::vector<AccuracyWindow> windows;
  double convert_seconds = 0;
  bool exported = false;  // the backend exports: a project folder was written instead of simulating
  ExportResult export_result;
};

ConvertRunResult run_conversion(const ConvertRunOptions& opts);

// Steps at which summary.json reports accuracy: every 10 % of the run, 4/8/16/32/64/128 steps, and
// 100/400/1000 ms, those that fit.
std::vector<int> report_steps(int steps, double dt_ms);

// The per-layer table `convert` prints: kind, neurons, synapses, the normalisation scale λ and, after a
// simulation, each population's mean rate (Hz, and spikes per neuron per step).
std::string layer_table(const ConvertRunResult& r);

// Accuracy of the ANN on every image of `data` read through `input` (argmax of the model's output).
double ann_accuracy(const Model& model, const Dataset& data, const ChannelAffine& input = {});

}  // namespace sf
