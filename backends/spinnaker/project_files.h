// The text files of an exported SpiNNaker project: run.py (plain PyNN, sPyNNaker extras behind a check) and
// the project's README.md.
#pragma once
#include <string>

#include "backends/snn/network.h"
#include "backends/spinnaker/exporter.h"

namespace sf::spinnaker {

std::string run_py(int steps, int neurons_per_core);
std::string project_readme(const snn::Network& net, const Report& report, int64_t images, int steps);

}  // namespace sf::spinnaker
