#include "backends/backend.h"

#include "backends/cpu/simulator.h"
#include "core/error.h"

namespace sf {

SimResult Backend::simulate(const snn::Network&, const Dataset&, const SimOptions&) {
  fail_input("--backend", "'" + name() + "' exports the network; it does not simulate it");
}

namespace {
// The exporter's entry point is spinnaker::export_project (it writes a folder, it does not simulate).
class SpinnakerBackend final : public Backend {
 public:
  std::string name() const override { return "spinnaker"; }
};
}  // namespace

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "cpu") return std::make_unique<cpu::CpuSimulator>();
  if (name == "spinnaker") return std::make_unique<SpinnakerBackend>();
  if (name == "cuda")
    fail_input("--backend", "cuda: this build has no CUDA simulator (the CUDA kernel set is a later issue)");
  fail_input("--backend", "unknown backend '" + name + "' (cpu, cuda, spinnaker)");
}

}  // namespace sf
