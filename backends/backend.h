// The backend interface: what turns an SNN description into results. A simulator (CPU now, CUDA later)
// runs the network on a dataset and reports accuracy over time and spike statistics; an exporter (SpiNNaker)
// writes a project to a folder. Adding GeNN or Loihi means one more implementation here and nothing in the
// trainer or the converter.
#pragma once
#include <cstdint>
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

struct SimOptions {
  int steps = 1000;
  int64_t images = 0;  // the first `images` of the dataset; 0 = all
  uint64_t seed = 1;   // Poisson input: image i draws from a stream keyed on (seed, i), so results do not
                       // depend on the thread count or batch split
  Propagation propagation = Propagation::event;
  int64_t batch = 32;  // images per dense-propagation batch
  bool record_input = false;  // keep every input spike (image, pixel, step), for exporters and peers
  // Spike-norm calibration: simulate layers 0..probe_layer only and report, per channel, the largest synaptic
  // input (bias excluded) one of its neurons receives in a step (Sengupta 2019). -1 = a normal run.
  int probe_layer = -1;
};

struct LayerStats {
  std::string name;
  int64_t neurons = 0;
  int64_t spikes = 0;            // over all images and steps
  double mean_rate_hz = 0;       // spikes / (neurons · images · duration)
  double max_rate_hz = 0;        // of the most active neuron, averaged over images
  int64_t synaptic_events = 0;   // synapse activations delivered into this layer: presynaptic spikes × fan-out
                                 // (the input's spikes for the first layer; 0 for analog input)
};

struct InputSpike {
  int32_t image, pixel, step;  // pixel: flat C, H, W index
};

struct SimResult {
  int steps = 0;
  int64_t images = 0;
  std::vector<int64_t> correct;  // correct[t]: images classified right after step t + 1
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

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Simulators return true and implement simulate(); exporters implement their own entry point.
  virtual bool simulates() const { return false; }
  virtual SimResult simulate(const snn::Network& net, const Dataset& data, const SimOptions& opts);
};

// "cpu"; "cuda" and "spinnaker" are named in the error until their issues land.
std::unique_ptr<Backend> make_backend(const std::string& name);

}  // namespace sf
