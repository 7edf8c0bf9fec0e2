#include "backends/spinnaker/project_files.h"

namespace sf::spinnaker {
namespace {

// run.py reads everything else (network.json, connections/, input_spikes.csv, test_images.csv) at run time;
// only the step count and neurons per core are baked in. Python, so the file is a template, not C++ logic.
const char* kRunPy = R"PY(#!/usr/bin/env python3
"""Run the spiking network exported by spikeforge and classify the exported test images.

usage: python3 run.py --simulator spinnaker          # sPyNNaker (PyNN >= 0.11) and a board
       python3 run.py --simulator brian2 --images 10  # anywhere PyNN + Brian2 are installed

Plain PyNN: one Population per layer, projections from the FromFileConnector-format lists in connections/
(inhibitory weights are written negative), the input as SpikeSourceArrays replaying exactly the spikes spikeforge's CPU backend drew
(input_spikes.csv). Each image runs STEPS steps from a fresh state (sim.reset()). The class is the output
neuron with most spikes, ties to the higher final membrane potential. The last line printed is
`accuracy=<fraction> images=<n>`.
"""
import argparse
import json
import os

import numpy as np
from pyNN.parameters import Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = @STEPS@
NEURONS_PER_CORE = @NEURONS_PER_CORE@


def load_simulator(name):
    if name == "spinnaker":
        import pyNN.spiNNaker as sim
        return sim, None
    if name == "brian2":
        import warnings
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        import brian2
        # numpy code generation needs no compiler and is the faster choice for a few images.
        brian2.prefs.codegen.target = os.environ.get("BRIAN2_CODEGEN", "numpy")
        brian2.BrianLogger.log_level_warn()
        import pyNN.brian2 as sim
        return sim, brian2
    import importlib
    return importlib.import_module("pyNN." + name), None


def per_neuron(values_per_channel, shape):
    return np.repeat(np.asarray(values_per_channel, dtype=float), int(shape[1]) * int(shape[2]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulator", default="spinnaker", help="spinnaker | brian2 | any pyNN.<name> backend")
    ap.add_argument("--images", type=int, default=None, help="how many of the exported images (default all)")
    ap.add_argument("--time-scale-factor", type=int, default=None, help="sPyNNaker: slow the board down")
    args = ap.parse_args()

    net = json.load(open(os.path.join(HERE, "network.json")))
    with open(os.path.join(HERE, "test_images.csv")) as f:
        labels = [int(line.split(",", 1)[0]) for line in f.read().splitlines()[1:] if line]
    n_images = min(args.images or len(labels), len(labels))
    spikes = np.loadtxt(os.path.join(HERE, "input_spikes.csv"), delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)

    sim, brian2 = load_simulator(args.simulator)
    spinnaker = args.simulator == "spinnaker"
    dt = float(net["dt_ms"])
    delay = max(1, int(net["delay_steps"])) * dt
    setup = dict(timestep=dt, min_delay=dt, max_delay=max(delay, dt))
    if spinnaker and args.time_scale_factor:
        setup["time_scale_factor"] = args.time_scale_factor
    sim.setup(**setup)
    if brian2 is not None:
        # pyNN.brian2 0.10 runs SpikeSourceArrays on brian2's default clock (0.1 ms): align it with dt.
        brian2.defaultclock.dt = dt * brian2.ms

    lif = net["neuron"] == "lif"
    if lif:
        p = net["lif"]
        tau_refrac = float(p["tau_refrac"])
        if brian2 is not None:
            # Brian2 lets a neuron integrate again in the step after its spike when tau_refrac = dt; NEST and
            # sPyNNaker hold v for round(tau_refrac/dt) whole steps, as spikeforge does. One more dt matches them.
            k = int(round(tau_refrac / dt))
            tau_refrac = (k + 1) * dt if k > 0 else 0.0
        cell_type = sim.IF_curr_exp
    else:
        # IF neurons: IF_curr_delta with tau_m = 20 s (sPyNNaker keeps tau_m/cm in a fixed-point range; over a
        # 1 s run that leaks 5 % of a held voltage), weights as voltage jumps, reset to 0 (no PyNN standard cell
        # resets by subtraction), the bias as a constant current. Brian2 tests the
        # threshold before a step's voltage-step synapses act and then resets, wiping input that arrives in a
        # spike step; there IF runs as IF_curr_exp with a synaptic time constant far below dt and weights
        # scaled to deliver the same charge (w·cm/tau_fast nA for w mV), which the reset leaves alone.
        cell_type = sim.IF_curr_exp if brian2 is not None else sim.IF_curr_delta
        tau_fast = 0.01 * dt
    if spinnaker:
        sim.set_number_of_neurons_per_core(cell_type, NEURONS_PER_CORE)

    n_in = int(np.prod(net["input_shape"]))
    inp = sim.Population(n_in, sim.SpikeSourceArray(spike_times=[[] for _ in range(n_in)]), label="input")
    pops = [inp]
    for layer in net["layers"]:
        shape = layer["out_shape"]
        n = int(np.prod(shape))
        bias = per_neuron(layer["bias"], shape) if "bias" in layer else np.zeros(n)
        if lif:
            cell = sim.IF_curr_exp(cm=p["cm"], tau_m=p["tau_m"], tau_refrac=tau_refrac, v_rest=p["v_rest"],
                                   v_reset=p["v_reset"], v_thresh=p["v_thresh"], tau_syn_E=p["tau_syn"],
                                   tau_syn_I=p["tau_syn"], i_offset=p["i_offset"] + bias)
            v0 = p["v_rest"]
        else:
            theta = float(layer["threshold"])
            # Brian2 fires at v > v_thresh, spikeforge and sPyNNaker at v >= v_thresh: sums of 1/k² weights
            # often land exactly on the threshold.
            thresh = theta * (1.0 - 1e-6) if brian2 is not None else theta
            params = dict(cm=1.0, tau_m=2.0e4, tau_refrac=0.0, v_rest=0.0, v_reset=0.0, v_thresh=thresh,
                          i_offset=bias / dt)
            if brian2 is not None:
                cell = sim.IF_curr_exp(tau_syn_E=tau_fast, tau_syn_I=tau_fast, **params)
            else:
                cell = sim.IF_curr_delta(**params)
            v0 = float(net["v_init"]) * theta
        pop = sim.Population(n, cell, label=layer["name"])
        pop.initialize(v=v0)
        for receptor in ("excitatory", "inhibitory"):
            path = os.path.join(HERE, "connections", "%s_%s.txt" % (layer["name"], receptor[:3]))
            rows = np.loadtxt(path, skiprows=1, ndmin=2)  # the FromFileConnector format; 2-D even for 1 row
            if len(rows) == 0:
                continue  # no synapse of this sign
            if not lif and brian2 is not None:
                rows[:, 2] *= 1.0 / tau_fast  # cm = 1 nF: w mV of charge = w·cm/tau_fast nA over tau_fast
            connector = sim.FromListConnector([tuple(r) for r in rows], column_names=["weight", "delay"])
            sim.Projection(pops[-1], pop, connector, sim.StaticSynapse(), receptor_type=receptor,
                           label="%s_%s" % (layer["name"], receptor[:3]))
        pops.append(pop)
    out = pops[-1]
    out.record(["spikes", "v"])

    correct = 0
    for image in range(n_images):
        rows = spikes[(spikes[:, 0] == image) & (spikes[:, 2] < STEPS)]
        times = [[] for _ in range(n_in)]
        for pixel, step in rows[np.lexsort((rows[:, 2], rows[:, 1]))][:, 1:3]:
            times[int(pixel)].append(float(step) * dt)
        sim.reset()
        inp.set(spike_times=[Sequence(t) for t in times])
        sim.run(STEPS * dt)
        seg = out.get_data(["spikes", "v"], clear=True).segments[-1]
        counts = np.zeros(out.size, dtype=np.int64)
        for k, st in enumerate(seg.spiketrains):
            counts[int(st.annotations.get("source_index", k))] = len(st)
        v_end = np.full(out.size, -np.inf)
        for sig in seg.analogsignals:
            if sig.name == "v":
                channels = sig.array_annotations.get("channel_index", np.arange(sig.shape[1]))
                v_end[np.asarray(channels, dtype=int)] = np.asarray(sig.magnitude)[-1, :]
        tied = np.flatnonzero(counts == counts.max())
        predicted = int(tied[np.argmax(v_end[tied])])
        correct += predicted == labels[image]
        print("image=%d label=%d predicted=%d spikes=%s" % (image, labels[image], predicted,
                                                            ",".join(str(c) for c in counts)), flush=True)
    sim.end()
    print("accuracy=%.4f images=%d" % (correct / max(n_images, 1), n_images))


if __name__ == "__main__":
    main()
)PY";

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

}  // namespace

std::string run_py(int steps, int neurons_per_core) {
  std::string s = kRunPy;
  replace_all(s, "@STEPS@", std::to_string(steps));
  replace_all(s, "@NEURONS_PER_CORE@", std::to_string(neurons_per_core));
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
| `run.py` | plain PyNN: one Population per layer (IF_curr_exp for LIF, IF_curr_delta for IF), Projections from the connection lists, SpikeSourceArray input, recording, class read-out; sPyNNaker extras (neurons per core, time-scale factor) only when the simulator is sPyNNaker |
| `connections/<layer>_{exc,inh}.txt` | FromFileConnector lists `i j weight delay` (nA or mV); inhibitory weights are negative |
| `network.json` | the SNN description the lists were expanded from |
| `input_spikes.csv` | `image,pixel,step`: the input spikes spikeforge's CPU backend drew for these images (same seed, same spikes) |
| `test_images.csv` | label and pixels of each exported image |
| `resources.json` | the resource report below, as data |

## What to expect

- No PyNN standard cell resets by subtraction: IF layers reset to 0. `spikeforge convert --backend cpu
  --export-exact` simulates exactly what this folder describes (reset to a value and 16-bit weights) and
  predicts the board's accuracy.
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
