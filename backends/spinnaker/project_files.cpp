#include "backends/spinnaker/project_files.h"

#include "backends/spinnaker/run_template.h"
#include "core/error.h"

namespace sf::spinnaker {
namespace {

// Sets the template's `NAME = <default>` line to `NAME = <value>`; the template must have it exactly once.
void set_constant(std::string& s, const std::string& name, const std::string& value) {
  const std::string key = "\n" + name + " = ";
  const size_t p = s.find(key);
  if (p == std::string::npos || s.find(key, p + 1) != std::string::npos)
    fail_internal("run_template.py: expected one line '" + name + " = ...'");
  const size_t first = p + key.size();
  s.replace(first, s.find('\n', first) - first, value);
}

}  // namespace

// run.py reads everything else (network.json, resources.json, connections/, input_spikes.csv, test_images.csv)
// at run time; only the step count and neurons per core are baked in.
std::string run_py(int steps, int neurons_per_core) {
  std::string s(run_template());
  set_constant(s, "STEPS", std::to_string(steps));
  set_constant(s, "NEURONS_PER_CORE", std::to_string(neurons_per_core));
  return s;
}

std::string project_readme(const snn::Network& net, const Report& report, int64_t images, int steps) {
  std::string s = "# SpiNNaker export of " + net.source + "\n\n";
  s += "Written by `spikeforge convert --backend spinnaker`. Conversion: " + net.conversion + ", neurons: " +
       std::string(snn::to_string(net.neuron)) + ", " + std::to_string(images) + " test images, " +
       std::to_string(steps) + " steps of " + std::to_string(net.dt_ms).substr(0, 5) + " ms each.\n\n";
  s += R"MD(## Run it

```
python3 run.py --simulator spinnaker               # sPyNNaker (needs PyNN >= 0.11) and a board
python3 run.py --simulator brian2 --images 10      # PyNN 0.10 + Brian2 (Debian: python3-pynn python3-brian)
```

The last line is `accuracy=<fraction> images=<n>`; one line per image before it gives the output spike counts.

## What is here

| file | content |
|---|---|
| `run.py` | plain PyNN: one Population per layer (IF_curr_exp for LIF, IF_curr_delta for IF), Projections from the connection lists, SpikeSourceArray input, recording, class read-out; sPyNNaker extras (neurons per core, time-scale factor, and the ConvolutionConnector for the layers `resources.json` lists under `convolution_layers`) only when the simulator is sPyNNaker |
| `connections/<layer>_{exc,inh}.txt` | FromFileConnector lists `i j weight delay` (nA or mV); inhibitory weights are negative |
| `network.json` | the SNN description the lists were expanded from |
| `input_spikes.csv` | `image,pixel,step`: the input spikes spikeforge's CPU backend drew for these images (same seed, same spikes) |
| `test_images.csv` | label and pixels of each exported image |
| `resources.json` | the resource report below, as data |

## What to expect

- No PyNN standard cell resets by subtraction: IF layers reset to 0. `spikeforge convert --backend cpu
  --export-exact` simulates exactly what this folder describes (reset to a value and 16-bit weights) and
  predicts the board's accuracy.
- Layers exported for sPyNNaker's ConvolutionConnector (`--conv-connector convolution`) run as one 2-D
  Population per channel and one Projection per channel pair, kernels flipped (the connector convolves).
  This mapping was checked against sPyNNaker 7.4's code, not on sPyNNaker: start with a few images.
- sPyNNaker stores weights as 16-bit integers with a power-of-two scale per synapse type; the report gives the
  resolution, how many weights round to 0 and the largest relative error.
- Brian2 releases a neuron from its refractory period one step earlier than NEST and sPyNNaker; run.py adds
  one time step to tau_refrac on Brian2 so all three simulate the same neuron.

## Resources

```
)MD";
  s += report.text();
  s += "```\n";
  return s;
}

}  // namespace sf::spinnaker
