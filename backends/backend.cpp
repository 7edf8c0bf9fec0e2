#include "backends/backend.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "backends/batched/simulator.h"
#include "backends/cpu/simulator.h"
#include "backends/nir/nir_export.h"
#include "backends/spinnaker/spinnaker_backend.h"
#include "core/enum_names.h"
#include "core/error.h"

namespace sf {

void finish_layer_stats(std::vector<LayerStats>& layers, int64_t images, double duration_s) {
  const double per_neuron_second = static_cast<double>(images) * duration_s;
  for (LayerStats& s : layers) {
    int64_t mx = 0;
    s.spikes = 0;
    for (int64_t c : s.neuron_spikes) s.spikes += c, mx = std::max(mx, c);
    s.mean_rate_hz = static_cast<double>(s.spikes) / (static_cast<double>(s.neurons) * per_neuron_second);
    s.max_rate_hz = static_cast<double>(mx) / per_neuron_second;
    s.synaptic_events = static_cast<int64_t>(static_cast<double>(s.presynaptic_spikes) * s.fanout);
  }
}

void check_simulation(const snn::Network& net, const Dataset& data, const SimOptions& opts) {
  snn::validate(net);
  if (opts.steps <= 0) fail_input("--steps", "must be > 0");
  if (data.sample_shape() != net.input_shape)
    fail_input(data.name,
               "images are " + to_string(data.sample_shape()) + ", the network reads " + to_string(net.input_shape));
  // Dataset indices: a slice (Dataset::first_index) holds images [first_index, end_index()).
  if (opts.first_image < data.first_index || opts.first_image >= data.end_index())
    fail_input("--first-image", std::to_string(opts.first_image) + " is outside the " + data.name + " images [" +
                                    std::to_string(data.first_index) + ", " + std::to_string(data.end_index()) + ")");
  if (opts.images < 0 || opts.first_image + opts.images > data.end_index())
    fail_input("--images", std::to_string(opts.images) + " from image " + std::to_string(opts.first_image) +
                               " requested, the " + data.name + " set ends at image " +
                               std::to_string(data.end_index()));
  if (opts.probe_layer >= static_cast<int>(net.layers.size())) fail_internal("probe layer out of range");
}

float current_input_scale(const snn::Network& net) {
  return net.neuron == snn::NeuronModel::lif ? static_cast<float>(net.input.max_rate_hz * net.dt_ms / 1000.0) : 1.0f;
}

SimResult start_result(const snn::Network& net, const Dataset& data, const SimOptions& opts) {
  SimResult r;
  r.steps = opts.steps;
  r.first_image = opts.first_image;
  r.images = opts.images > 0 ? opts.images : data.end_index() - opts.first_image;
  if (r.images == 0) fail_input(data.name, "no images to simulate");
  r.correct.assign(opts.steps, 0);
  r.predicted.assign(r.images, -1);
  const auto row = data.labels.begin() + (r.first_image - data.first_index);
  r.labels.assign(row, row + r.images);
  r.output_counts.assign(r.images * net.layers.back().neurons(), 0);
  return r;
}

namespace {
constexpr std::pair<Propagation, const char*> kPropagationNames[] = {{Propagation::event, "event"},
                                                                     {Propagation::dense, "dense"}};
constexpr std::pair<ResetMode, const char*> kResetNames[] = {{ResetMode::to_value, "reset to a value"},
                                                             {ResetMode::subtract, "reset by subtraction"}};
}  // namespace

const char* to_string(Propagation p) { return name_of(kPropagationNames, p); }
const char* to_string(ResetMode r) { return name_of(kResetNames, r); }

ResetMode reset_mode(snn::NeuronModel m) {
  return m == snn::NeuronModel::if_subtract || m == snn::NeuronModel::if_signed ? ResetMode::subtract
                                                                                : ResetMode::to_value;
}

SimResult Backend::simulate(const snn::Network&, const Dataset&, const SimOptions&) {
  fail_input("--backend", "'" + name() + "' exports the network; it does not simulate it");
}

ExportResult Backend::export_to(const snn::Network&, const Dataset&, const ExportOptions&, const std::string&) {
  fail_input("--backend", "'" + name() + "' simulates the network; it does not export it");
}

namespace {

// Every backend is registered in every build; one that needs what the build or machine lacks (cuda: a GPU)
// says so in check_ready().
struct Registry {
  std::mutex mutex;
  std::map<std::string, BackendFactory> entries;
  Registry() {
    // The built-in backends: one line each.
    entries["cpu"] = [] { return std::make_unique<cpu::CpuSimulator>(); };
    entries["spinnaker"] = [] { return std::make_unique<spinnaker::SpinnakerBackend>(); };
    entries["nir"] = [] { return std::make_unique<nir::NirBackend>(); };
    entries["cuda"] = [] { return std::make_unique<batched::BatchedSimulator>("cuda", Device::cuda); };
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::unique_ptr<Backend> make_backend(const std::string& name) {
  BackendFactory make;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    const auto it = r.entries.find(name);
    if (it == r.entries.end()) {
      std::string names;
      for (const auto& [n, _] : r.entries) names += (names.empty() ? "" : ", ") + n;
      fail_input("--backend", "unknown backend '" + name + "' (" + names + ")");
    }
    make = it->second;
  }
  return make();
}

void register_backend(const std::string& name, BackendFactory make) {
  if (name.empty() || !make) fail_internal("register_backend: a backend needs a name and a factory");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.entries[name] = std::move(make);
}

void unregister_backend(const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.entries.erase(name);
}

std::vector<std::string> backend_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& [n, _] : r.entries) names.push_back(n);
  return names;
}

std::vector<std::string> backend_options() {
  std::vector<BackendFactory> factories;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (const auto& [_, make] : r.entries) factories.push_back(make);
  }
  std::set<std::string> options;
  for (const auto& make : factories)
    for (const auto& o : make()->capabilities().options) options.insert(o);
  return {options.begin(), options.end()};
}

}  // namespace sf
