// The backend interface: what receives an SNN description once it is converted. A simulator (CPU now, CUDA
// later) runs the network on a dataset and reports accuracy over time and spike statistics; an exporter
// (SpiNNaker now, NIR later) writes a project to a folder. Every backend says what it can do in
// capabilities(), and the conversion driver (conversion_run.cpp) reads only that: it refuses a flag, neuron
// model, input encoding or propagation kernel the chosen backend does not take before converting, then calls
// simulate() or export_to(). Adding GeNN, Loihi, NIR or CUDA means one class implementing this interface and
// one line in the registry (backend.cpp), or register_backend() at run time; nothing in the trainer, the
// converter or the driver.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/snn/network.h"
#include "datasets/dataset.h"

namespace sf {

enum class Propagation {
  event,  // scatter each spike's fan-out (work ∝ spikes)
  dense,  // per step, batched convolutions / matmuls over 0/1 spike tensors (work ∝ synapses)
};
const char* to_string(Propagation p);

// The CPU simulator's images per dense-propagation batch when SimOptions::batch is 0.
inline constexpr int64_t kCpuDenseBatch = 32;

struct SimOptions {
  int steps = 1000;
  int64_t first_image = 0;  // simulate images [first_image, first_image + images) of the dataset
  int64_t images = 0;       // 0 = all from first_image on
  uint64_t seed = 1;        // Poisson input: dataset image i (its index, not its row in a slice) draws from a stream
                            // keyed on (seed, i), so results do not depend on the thread count, batch split or range
  Propagation propagation = Propagation::event;
  int64_t batch = 0;          // images per dense-propagation batch; 0: the simulator's default (CPU: kCpuDenseBatch)
  bool record_input = false;  // keep every input spike (image, pixel, step), for exporters and peers
  // Spike-norm calibration: simulate layers 0..probe_layer only and report, per channel, the largest synaptic
  // input (bias excluded) one of its neurons receives in a step (Sengupta 2019). -1 = a normal run.
  int probe_layer = -1;
};

struct LayerStats {
  std::string name;
  int64_t neurons = 0;
  int64_t spikes = 0;           // over all images and steps (signed IF: positive − negative)
  int64_t negative_spikes = 0;  // signed IF: negative spikes over all images and steps
  double mean_rate_hz = 0;      // spikes / (neurons · images · duration)
  double max_rate_hz = 0;       // of the most active neuron, averaged over images
  int64_t synaptic_events = 0;  // synapse activations delivered into this layer: presynaptic spikes × fan-out
                                // (the input's spikes for the first layer; 0 for analog input)
  // What the figures above derive from, kept so that runs over parts of a test set (the ranks of a
  // distributed convert) merge exactly: each neuron's spikes, the source's spikes and its mean fan-out.
  std::vector<int64_t> neuron_spikes;  // [C, H, W]
  int64_t presynaptic_spikes = 0;
  double fanout = 0;
};

// Fills spikes, the rates and synaptic_events of each layer from neuron_spikes, presynaptic_spikes and fanout,
// for a run of `images` images of duration_s each.
void finish_layer_stats(std::vector<LayerStats>& layers, int64_t images, double duration_s);

// The refusals every simulator makes before any work, BadInput naming the flag: a network that does not
// validate, --steps ≤ 0, images of another shape than the network reads, an image range outside the dataset.
void check_simulation(const snn::Network& net, const Dataset& data, const SimOptions& opts);

// Current (analog) input: the first layer's drive per step from a pixel of value 1 (Rueckauer 2017: the
// normalised unit is one spike per step). IF: 1; LIF: the mean synaptic drive of the Poisson train at max_rate,
// so the same weights hold.
float current_input_scale(const snn::Network& net);

struct InputSpike {
  int32_t image, pixel, step;  // pixel: flat C, H, W index
};

struct SimResult {
  int steps = 0;
  int64_t first_image = 0;  // row i of the per-image vectors is dataset image first_image + i
  int64_t images = 0;
  std::vector<int64_t> correct;    // correct[t]: images classified right after step t + 1
  std::vector<int32_t> predicted;  // final class per image
  std::vector<int32_t> labels;
  std::vector<int32_t> output_counts;  // [images × classes] spike counts of the output layer
  std::vector<LayerStats> layers;
  std::vector<InputSpike> input_spikes;  // when record_input
  std::vector<float> probe_max_input;    // when probe_layer ≥ 0: per output channel of that layer
  double seconds = 0;                    // simulation wall time
  double accuracy_at(int step) const {   // step in 1..steps
    return images ? static_cast<double>(correct.at(step - 1)) / static_cast<double>(images) : 0.0;
  }
};

// A run's result before simulating: the image range (opts.images, or the rest of the set from
// opts.first_image; BadInput when that is empty), its labels, and every per-step and per-image vector zeroed.
SimResult start_result(const snn::Network& net, const Dataset& data, const SimOptions& opts);

// How an exporter writes convolution layers: as connection lists (one synapse per pixel pair, any target), or
// as kernels where the target has a convolution connector (sPyNNaker 7's local-only ConvolutionConnector).
enum class ConvConnector { list, convolution };

struct ExportOptions {
  int64_t images = 100;  // test images whose input is exported
  int steps = 1000;      // per image
  uint64_t seed = 1;     // Poisson input: the same streams as the simulators (same seed → same spikes)
  bool force = false;    // write into a non-empty folder
  // Read by the exporters whose capabilities().options name the flag.
  int neurons_per_core = 256;                          // --neurons-per-core
  ConvConnector conv_connector = ConvConnector::list;  // --conv-connector
};

struct ExportResult {
  std::string report;   // printed first (SpiNNaker: the resource report)
  std::string message;  // printed last: what was written where, and how to run it
  double seconds = 0;   // export wall time
};

// How a neuron model resets after a spike.
enum class ResetMode {
  to_value,  // v ← 0 (IF) or v_reset (LIF)
  subtract,  // v ← v − θ
};
ResetMode reset_mode(snn::NeuronModel m);
const char* to_string(ResetMode r);

struct Capabilities {
  bool simulates = false;  // simulate() runs the network and returns a SimResult (the driver's choice when set)
  bool exports = false;    // export_to() writes a project folder
  std::vector<snn::NeuronModel> neurons;   // neuron models it takes
  std::vector<snn::InputEncoding> inputs;  // input encodings it takes
  std::vector<ResetMode> resets;           // reset modes it reproduces
  // Reset modes it runs as the nearest one it has (its own report says so); a neuron model whose reset is in
  // neither list is refused.
  std::vector<ResetMode> approximated_resets;
  std::vector<Propagation> propagations;  // simulators: the kernels --propagation may choose, the default first
  // The backend-specific flags it reads. A flag that some registered backend lists is refused, naming it,
  // when given to a backend that does not list it (it would be ignored).
  std::vector<std::string> options;
  // A backend that does not simulate has spike-norm calibrated on this registered simulator.
  std::string calibrator = "cpu";
  int64_t default_images = 0;  // test images when --images is not given; 0 = the whole test set
  // Why, for a flag whose choices it narrows ("--input": "PyNN inputs are spike sources"): the refusal says so.
  std::map<std::string, std::string> reasons;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Capabilities capabilities() const = 0;
  // Refusals that need no network (e.g. a non-empty output folder without --force), run before converting;
  // BadInput naming the flag.
  virtual void check_export(const std::string& dir, const ExportOptions& opts) const {}
  // Refusals before converting that need nothing but the machine: a simulator whose device this build or
  // machine lacks (BadInput naming --backend and why).
  virtual void check_ready() const {}
  // Simulators (capabilities().simulates): runs images [0, opts.images) of `data`.
  virtual SimResult simulate(const snn::Network& net, const Dataset& data, const SimOptions& opts);
  // Exporters (capabilities().exports): writes the project into `dir`, the input of test images
  // [0, opts.images).
  virtual ExportResult export_to(const snn::Network& net, const Dataset& test, const ExportOptions& opts,
                                 const std::string& dir);
};

using BackendFactory = std::function<std::unique_ptr<Backend>()>;

// The backend registered as `name`: "cpu", "cuda", "nir", "spinnaker", or one added by register_backend().
// BadInput naming --backend and the known names for any other. (Whether "cuda" can run here, its
// check_ready() says.)
std::unique_ptr<Backend> make_backend(const std::string& name);

// Registers (or replaces) a backend at run time, e.g. a test's fake exporter.
void register_backend(const std::string& name, BackendFactory make);
void unregister_backend(const std::string& name);

// The names make_backend() creates, sorted.
std::vector<std::string> backend_names();

// The backend-specific flags of every registered backend (the union of their capabilities().options).
std::vector<std::string> backend_options();

}  // namespace sf
