// `spikeforge convert` as a library call: load a checkpoint, convert it, run it on a backend and write the
// result folder — summary.json, accuracy_vs_time.csv/.svg, layers.csv, predictions.csv, network.json (the
// SNN description) and, when asked, input_spikes.csv. Every file is written atomically.
#pragma once
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/snn/converter.h"
#include "backends/spinnaker/exporter.h"

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
  // cpu: simulate what a SpiNNaker export describes (cells reset to a value, 16-bit weights).
  bool export_exact = false;
  // spinnaker: the export's options (images default to 100 there).
  int neurons_per_core = 256;
  spinnaker::ConvConnector conv_connector = spinnaker::ConvConnector::list;
  bool force = false;
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
  bool exported = false;  // spinnaker: a project folder was written instead of simulating
  std::string report;     // spinnaker: the resource report
  double export_seconds = 0;
};

ConvertRunResult run_conversion(const ConvertRunOptions& opts);

// Steps at which summary.json reports accuracy: every 10 % of the run, 16/32/64 steps, and 100/400/1000 ms,
// those that fit.
std::vector<int> report_steps(int steps, double dt_ms);

// Accuracy of the ANN on images [0, count) of `data` (argmax of the model's output).
double ann_accuracy(const Model& model, const Dataset& data, int64_t count);

}  // namespace sf
