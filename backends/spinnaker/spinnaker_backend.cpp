#include "backends/spinnaker/spinnaker_backend.h"

#include <chrono>
#include <cstdio>

#include "backends/spinnaker/exporter.h"

namespace sf::spinnaker {

Capabilities SpinnakerBackend::capabilities() const {
  Capabilities c;
  c.exports = true;
  c.neurons = {snn::NeuronModel::if_reset_zero, snn::NeuronModel::if_subtract, snn::NeuronModel::lif};
  c.inputs = {snn::InputEncoding::poisson, snn::InputEncoding::regular};
  c.reasons["--input"] = "PyNN inputs are spike sources";
  // No PyNN standard cell resets by subtraction: such layers reset to a value, and the report warns
  // (`convert --backend cpu --export-exact` predicts the cost).
  c.resets = {ResetMode::to_value};
  c.approximated_resets = {ResetMode::subtract};
  c.options = {"--neurons-per-core", "--conv-connector", "--force"};
  c.calibrator = "cpu";
  c.default_images = 100;
  return c;
}

void SpinnakerBackend::check_export(const std::string& dir, const sf::ExportOptions& opts) const {
  check_folder(dir, opts.force);
}

ExportResult SpinnakerBackend::export_to(const snn::Network& net, const Dataset& test, const sf::ExportOptions& opts,
                                         const std::string& dir) {
  ExportOptions eo;
  eo.out_dir = dir;
  eo.images = opts.images;
  eo.steps = opts.steps;
  eo.neurons_per_core = opts.neurons_per_core;
  eo.seed = opts.seed;
  eo.force = opts.force;
  eo.conv_connector = opts.conv_connector;
  const auto start = std::chrono::steady_clock::now();
  const Report report = export_project(net, test, eo);
  ExportResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.report = report.text();
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f", r.seconds);
  r.message = "exported " + std::to_string(opts.images) + " images in " + seconds + " s to " + dir +
              "/{run.py,README.md,network.json,connections/,input_spikes.csv,test_images.csv,resources.json}\n"
              "run: python3 " + dir + "/run.py --simulator spinnaker (or --simulator brian2 --images 10)\n";
  return r;
}

}  // namespace sf::spinnaker
