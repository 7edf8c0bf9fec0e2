#!/usr/bin/env python3
"""Run the spiking network exported by spikeforge and classify the exported test images.

usage: python3 run.py --simulator spinnaker          # sPyNNaker (PyNN >= 0.11) and a board
       python3 run.py --simulator brian2 --images 10  # anywhere PyNN + Brian2 are installed

Plain PyNN: one Population per layer, projections from the FromFileConnector-format lists in connections/
(inhibitory weights are written negative), the input as SpikeSourceArrays replaying exactly the spikes spikeforge's CPU backend drew
(input_spikes.csv). Each image runs STEPS steps from a fresh state (sim.reset()). The class is the output
neuron with most spikes, ties to the higher final membrane potential. The last line printed is
`accuracy=<fraction> images=<n>`.

On sPyNNaker, the layers resources.json lists under "convolution_layers" (export with --conv-connector
convolution) use its local-only ConvolutionConnector instead: one 2-D Population per channel and one
Projection per channel pair, carrying the kernel rather than one synapse per pixel pair.
"""
import argparse
import json
import os
import warnings

import numpy as np
from pyNN.parameters import Sequence
from pyNN.space import Grid2D

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 1000
NEURONS_PER_CORE = 256


def load_simulator(name):
    if name == "spinnaker":
        import pyNN.spiNNaker as sim
        return sim, None
    if name == "brian2":
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


def load_list(path):
    """A FromFileConnector file as rows (i, j, weight, delay), 2-D even with 0 or 1 synapses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # numpy warns about a file with only the header
        return np.loadtxt(path, skiprows=1, ndmin=2).reshape(-1, 4)


def per_neuron(values, shape):
    """A layer's bias per neuron: given per channel (repeated over the channel's plane) or already per neuron."""
    values = np.asarray(values, dtype=float)
    plane = int(shape[1]) * int(shape[2])
    return values if values.size == int(shape[0]) * plane else np.repeat(values, plane)


class Layers:
    """The network in PyNN: each layer's neurons as parts [(population, first index, size)], one part, or on
    sPyNNaker one 2-D part per channel where a ConvolutionConnector reads or writes the layer (the layout and
    the per-core tiles come from resources.json)."""

    def __init__(self, sim, net, simulator, resources):
        self.sim, self.net = sim, net
        self.spinnaker = simulator == "spinnaker"
        self.brian2 = simulator == "brian2"
        self.conv = set(resources.get("convolution_layers", [])) if self.spinnaker else set()
        self.layout = {p["name"]: p for p in resources.get("populations", [])}
        dt = float(net["dt_ms"])
        self.dt = dt
        self.delay = max(1, int(net["delay_steps"])) * dt
        self.lif = net["neuron"] == "lif"
        self.tau_fast = 0.01 * dt
        if self.lif:
            self.cell_type = sim.IF_curr_exp
        else:
            # IF neurons: IF_curr_delta with tau_m = 20 s (sPyNNaker keeps tau_m/cm in a fixed-point range; over
            # a 1 s run that leaks 5 % of a held voltage), weights as voltage jumps, reset to 0 (no PyNN standard
            # cell resets by subtraction), the bias as a constant current. Brian2 tests the threshold before a
            # step's voltage-step synapses act and then resets, wiping input that arrives in a spike step; there
            # IF runs as IF_curr_exp with a synaptic time constant far below dt and weights scaled to deliver the
            # same charge (w·cm/tau_fast nA for w mV), which the reset leaves alone.
            self.cell_type = sim.IF_curr_exp if self.brian2 else sim.IF_curr_delta
        if self.spinnaker and not self.conv:
            sim.set_number_of_neurons_per_core(self.cell_type, NEURONS_PER_CORE)

        n_in = int(np.prod(net["input_shape"]))
        self.inputs = self.populations(n_in, net["input_shape"], "input",
                                       lambda lo, hi: sim.SpikeSourceArray(spike_times=[[] for _ in range(hi - lo)]))
        self.parts = [self.inputs]  # per layer, input first
        for layer in net["layers"]:
            self.parts.append(self.add_layer(layer, self.parts[-1]))
        self.outputs = self.parts[-1]

    def populations(self, n, shape, label, make_cell, v0=None):
        sim = self.sim
        layout = self.layout.get(label, {})
        per_channel = bool(self.conv) and layout.get("channels", 0) > 0
        parts = []
        if per_channel:
            c, h, w = (int(s) for s in shape)
            for ch in range(c):
                pop = sim.Population(h * w, make_cell(ch * h * w, (ch + 1) * h * w),
                                     structure=Grid2D(aspect_ratio=w / h), label="%s_c%d" % (label, ch))
                parts.append((pop, ch * h * w, h * w))
        else:
            parts.append((sim.Population(n, make_cell(0, n), label=label), 0, n))
        for pop, _, size in parts:
            if v0 is not None:
                pop.initialize(v=v0)
            if self.conv:  # per population: sPyNNaker wants 2-D limits for 2-D populations
                pop.set_max_atoms_per_core(tuple(layout["tile"]) if per_channel else NEURONS_PER_CORE)
        return parts

    def add_layer(self, layer, pre):
        sim, shape = self.sim, layer["out_shape"]
        n = int(np.prod(shape))
        bias = per_neuron(layer["bias"], shape) if "bias" in layer else np.zeros(n)
        if self.lif:
            p = self.net["lif"]
            tau_refrac = float(p["tau_refrac"])
            if self.brian2:
                # Brian2 lets a neuron integrate again in the step after its spike when tau_refrac = dt; NEST and
                # sPyNNaker hold v for round(tau_refrac/dt) whole steps, as spikeforge does. One more dt matches.
                k = int(round(tau_refrac / self.dt))
                tau_refrac = (k + 1) * self.dt if k > 0 else 0.0

            def make_cell(lo, hi):
                return sim.IF_curr_exp(cm=p["cm"], tau_m=p["tau_m"], tau_refrac=tau_refrac, v_rest=p["v_rest"],
                                       v_reset=p["v_reset"], v_thresh=p["v_thresh"], tau_syn_E=p["tau_syn"],
                                       tau_syn_I=p["tau_syn"], i_offset=p["i_offset"] + bias[lo:hi])
            v0 = p["v_rest"]
        else:
            theta = float(layer["threshold"])
            # Brian2 fires at v > v_thresh, spikeforge and sPyNNaker at v >= v_thresh: sums of 1/k² weights
            # often land exactly on the threshold.
            thresh = theta * (1.0 - 1e-6) if self.brian2 else theta

            def make_cell(lo, hi):
                params = dict(cm=1.0, tau_m=2.0e4, tau_refrac=0.0, v_rest=0.0, v_reset=0.0, v_thresh=thresh,
                              i_offset=bias[lo:hi] / self.dt)
                if self.brian2:
                    return sim.IF_curr_exp(tau_syn_E=self.tau_fast, tau_syn_I=self.tau_fast, **params)
                return sim.IF_curr_delta(**params)
            v0 = float(self.net["v_init"]) * theta
        post = self.populations(n, shape, layer["name"], make_cell, v0)
        if layer["name"] in self.conv:
            self.connect_convolution(layer, pre, post)
        else:
            for receptor in ("excitatory", "inhibitory"):
                self.connect_list(layer, receptor, pre, post)
        return post

    def connect_list(self, layer, receptor, pre, post):
        sim = self.sim
        path = os.path.join(HERE, "connections", "%s_%s.txt" % (layer["name"], receptor[:3]))
        rows = load_list(path)
        if len(rows) == 0:
            return  # no synapse of this sign
        if not self.lif and self.brian2:
            rows[:, 2] *= 1.0 / self.tau_fast  # cm = 1 nF: w mV of charge = w·cm/tau_fast nA over tau_fast
        for a, (pre_pop, p0, pn) in enumerate(pre):
            from_part = (rows[:, 0] >= p0) & (rows[:, 0] < p0 + pn)
            for b, (post_pop, q0, qn) in enumerate(post):
                sub = rows[from_part & (rows[:, 1] >= q0) & (rows[:, 1] < q0 + qn)]
                if len(sub) == 0:
                    continue
                sub[:, 0] -= p0
                sub[:, 1] -= q0
                connector = sim.FromListConnector([tuple(r) for r in sub], column_names=["weight", "delay"])
                label = "%s_%s" % (layer["name"], receptor[:3])
                if len(pre) > 1 or len(post) > 1:
                    label += "_%d_%d" % (a, b)
                sim.Projection(pre_pop, post_pop, connector, sim.StaticSynapse(), receptor_type=receptor, label=label)

    def connect_convolution(self, layer, pre, post):
        """sPyNNaker's ConvolutionConnector, one Projection per (input channel, output channel) kernel. It
        convolves (the kernel flipped against the cross-correlation of Keras, PyTorch and spikeforge), reads
        (x, y) tuples for square kernels alike, averages merged pooling itself (pool_shape/pool_stride divide
        the kernel by the pool area) and sends each weight to the excitatory or inhibitory receptor by sign."""
        sim = self.sim
        weight = np.asarray(layer["weight"], dtype=float).reshape([int(s) for s in layer["weight_shape"]])
        depthwise = layer["kind"] == "depthwise_conv"
        pool = max(1, int(layer["pool_in"]))
        pad = int(layer["padding"])  # 0 or k // 2; sPyNNaker reads a bool as 0 or 1, so pass the number
        options = dict(padding=(pad, pad))
        if pool > 1:
            options.update(pool_shape=(pool, pool), pool_stride=(pool, pool))
        for o, (post_pop, _, _) in enumerate(post):
            for c in ([o] if depthwise else range(len(pre))):
                kernel = weight[o, 0 if depthwise else c]
                if not kernel.any():
                    continue
                connector = sim.ConvolutionConnector(np.ascontiguousarray(kernel[::-1, ::-1]), **options)
                sim.Projection(pre[c][0], post_pop, connector, sim.Convolution(delay=self.delay),
                               label="%s_%d_%d" % (layer["name"], c, o))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulator", default="spinnaker", help="spinnaker | brian2 | any pyNN.<name> backend")
    ap.add_argument("--images", type=int, default=None, help="how many of the exported images (default all)")
    ap.add_argument("--time-scale-factor", type=int, default=None, help="sPyNNaker: slow the board down")
    args = ap.parse_args()

    net = json.load(open(os.path.join(HERE, "network.json")))
    resources = json.load(open(os.path.join(HERE, "resources.json")))
    with open(os.path.join(HERE, "test_images.csv")) as f:
        labels = [int(line.split(",", 1)[0]) for line in f.read().splitlines()[1:] if line]
    n_images = min(args.images or len(labels), len(labels))
    spikes = np.loadtxt(os.path.join(HERE, "input_spikes.csv"), delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)

    sim, brian2 = load_simulator(args.simulator)
    dt = float(net["dt_ms"])
    delay = max(1, int(net["delay_steps"])) * dt
    setup = dict(timestep=dt, min_delay=dt, max_delay=max(delay, dt))
    if args.simulator == "spinnaker" and args.time_scale_factor:
        setup["time_scale_factor"] = args.time_scale_factor
    sim.setup(**setup)
    if brian2 is not None:
        # pyNN.brian2 0.10 runs SpikeSourceArrays on brian2's default clock (0.1 ms): align it with dt.
        brian2.defaultclock.dt = dt * brian2.ms

    model = Layers(sim, net, args.simulator, resources)
    for pop, _, _ in model.outputs:
        pop.record(["spikes", "v"])
    n_out = sum(size for _, _, size in model.outputs)

    correct = 0
    for image in range(n_images):
        rows = spikes[(spikes[:, 0] == image) & (spikes[:, 2] < STEPS)]
        times = [[] for _ in range(int(np.prod(net["input_shape"])))]
        for pixel, step in rows[np.lexsort((rows[:, 2], rows[:, 1]))][:, 1:3]:
            times[int(pixel)].append(float(step) * dt)
        sim.reset()
        for pop, first, size in model.inputs:
            pop.set(spike_times=[Sequence(t) for t in times[first:first + size]])
        sim.run(STEPS * dt)
        counts = np.zeros(n_out, dtype=np.int64)
        v_end = np.full(n_out, -np.inf)
        for pop, first, size in model.outputs:
            seg = pop.get_data(["spikes", "v"], clear=True).segments[-1]
            for k, st in enumerate(seg.spiketrains):
                counts[first + int(st.annotations.get("source_index", k))] = len(st)
            for sig in seg.analogsignals:
                if sig.name == "v":
                    channels = sig.array_annotations.get("channel_index", np.arange(sig.shape[1]))
                    v_end[first + np.asarray(channels, dtype=int)] = np.asarray(sig.magnitude)[-1, :]
        tied = np.flatnonzero(counts == counts.max())
        predicted = int(tied[np.argmax(v_end[tied])])
        correct += predicted == labels[image]
        print("image=%d label=%d predicted=%d spikes=%s" % (image, labels[image], predicted,
                                                            ",".join(str(c) for c in counts)), flush=True)
    sim.end()
    print("accuracy=%.4f images=%d" % (correct / max(n_images, 1), n_images))


if __name__ == "__main__":
    main()
