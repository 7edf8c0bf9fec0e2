// The SpiNNaker exporter behind the backend interface: `--backend spinnaker` writes a PyNN project
// (exporter.h) instead of simulating. Spike-norm calibration runs on the CPU simulator.
#pragma once
#include "backends/backend.h"

namespace sf::spinnaker {

class SpinnakerBackend final : public Backend {
 public:
  std::string name() const override { return "spinnaker"; }
  Capabilities capabilities() const override;
  void check_export(const std::string& dir, const sf::ExportOptions& opts) const override;
  ExportResult export_to(const snn::Network& net, const Dataset& test, const sf::ExportOptions& opts,
                         const std::string& dir) override;
};

}  // namespace sf::spinnaker
