#!/usr/bin/python3
"""Checks an export made with --conv-connector convolution: builds its run.py network for sPyNNaker against a
recording stand-in for the pyNN.spiNNaker module, expands every Projection the way sPyNNaker 7 does, and
compares the synapses with the connection lists the same export wrote for the other simulators.

usage: spinnaker_convolution_check.py EXPORT_DIR     (prints `convolution_check ok ...` on success)

No sPyNNaker here, so its ConvolutionConnector semantics are modelled from its source (sPyNNaker 7.4,
local_only/neuron_impl convolution code and convolution_connector.py):
  - each pre neuron (x, y) is pooled to (x // pool_stride, y // pool_stride) and the kernel divided by the
    pool area;
  - it drives post (x', y') = pooled − (k − 1) + pad + (kc, kr) with weight K[kr][kc], i.e. a true convolution
    (the kernel flipped against cross-correlation); padding is decoded as an int or a pair first (so True
    means 1, not k // 2), None means 0;
  - the post shape is shape // pool_stride − (k − 1) + 2·pad; populations are Grid2D, raster order x fastest;
  - positive weights go to the excitatory receptor, negative ones to the inhibitory;
  - a Population receiving a Convolution projection may receive no other kind;
  - a 2-D population is split over cores in equal (width, height) tiles of at most the neurons per core.
Besides the synapses it checks each population's bias current and threshold, the delays, and that each
layer's parts cover its neurons in order.
"""
import importlib.util
import json
import os
import sys
from collections import defaultdict

import numpy as np


class Recorder:
    """What run.py's Layers calls on pyNN.spiNNaker, recorded instead of run."""

    def __init__(self):
        self.projections = []

    class Population:
        def __init__(self, size, cell, structure=None, label=None):
            self.size, self.cell, self.structure, self.label = size, cell, structure, label
            self.max_atoms = None

        def initialize(self, **_):
            pass

        def set_max_atoms_per_core(self, n):
            self.max_atoms = n

    class FromListConnector:
        def __init__(self, conn_list, column_names=None):
            self.rows = np.asarray(conn_list, dtype=float).reshape(-1, 4)

    class ConvolutionConnector:
        def __init__(self, kernel_weights, padding=None, pool_shape=None, pool_stride=None):
            self.kernel = np.asarray(kernel_weights, dtype=float)
            self.padding, self.pool_shape, self.pool_stride = padding, pool_shape, pool_stride

    class Convolution:
        def __init__(self, delay=1.0):
            self.delay = delay

    class StaticSynapse:
        pass

    @staticmethod
    def cell(**params):
        return params

    IF_curr_exp = IF_curr_delta = SpikeSourceArray = cell

    def Projection(self, pre, post, connector, synapse, receptor_type=None, label=None):
        self.projections.append((pre, post, connector, synapse, receptor_type, label))

    def set_number_of_neurons_per_core(self, cell_type, n):
        raise AssertionError("convolution exports set neurons per core per population, not per cell type")


def decode_padding(padding):
    """The padding as sPyNNaker's ConvolutionConnector reads it (ints and pairs first: a bool is an int)."""
    if padding is None:
        return 0
    if isinstance(padding, int):
        return int(padding)
    pair = [int(p) for p in padding]
    assert len(pair) == 2 and pair[0] == pair[1], "square padding expected, got %s" % (padding,)
    return pair[0]


def expand_convolution(pre_shape, post_shape, conn):
    """(pre local, post local, weight) for one ConvolutionConnector, as sPyNNaker computes it."""
    k = conn.kernel.shape[0]
    assert conn.kernel.shape == (k, k) and k % 2 == 1, "sPyNNaker 7 handles odd square kernels only"
    pad = decode_padding(conn.padding)
    stride = conn.pool_stride[0] if conn.pool_stride else 1
    area = float(np.prod(conn.pool_shape)) if conn.pool_shape else 1.0
    (h, w), (oh, ow) = pre_shape, post_shape
    assert h % stride == 0 and w % stride == 0, "pooling must divide the pre map"
    assert (h // stride - (k - 1) + 2 * pad, w // stride - (k - 1) + 2 * pad) == (oh, ow), "post shape"
    out = []
    for y in range(h):
        for x in range(w):
            py, px = y // stride, x // stride
            for kr in range(k):
                for kc in range(k):
                    oy, ox = py - (k - 1) + pad + kr, px - (k - 1) + pad + kc
                    if 0 <= oy < oh and 0 <= ox < ow and conn.kernel[kr, kc] != 0:
                        out.append((y * w + x, oy * ow + ox, conn.kernel[kr, kc] / area))
    return out


def check_cell(net, layer, cell, first, size):
    """The population's bias current (and IF threshold) against network.json, for its slice of the layer."""
    c, h, w = (int(s) for s in layer["out_shape"])
    bias = np.repeat(np.asarray(layer.get("bias", [0.0] * c), dtype=float), h * w)[first:first + size]
    if net["neuron"] == "lif":
        want = net["lif"]["i_offset"] + bias
    else:
        want = bias / float(net["dt_ms"])
        assert cell["v_thresh"] == float(layer["threshold"]), layer["name"]
    assert np.allclose(np.asarray(cell["i_offset"], dtype=float), want, rtol=1e-12, atol=0), "%s: i_offset" % layer["name"]


def main():
    export = sys.argv[1]
    spec = importlib.util.spec_from_file_location("run", os.path.join(export, "run.py"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    net = json.load(open(os.path.join(export, "network.json")))
    resources = json.load(open(os.path.join(export, "resources.json")))
    conv_layers = resources["convolution_layers"]
    assert conv_layers, "the export lists no convolution layer"
    sim = Recorder()
    model = run.Layers(sim, net, "spinnaker", resources)
    shapes = [net["input_shape"]] + [l["out_shape"] for l in net["layers"]]
    names = ["input"] + [l["name"] for l in net["layers"]]
    layout = {p["name"]: p for p in resources["populations"]}
    where = {}  # population → (layer index, first neuron, per-channel map (h, w) or None)
    for i, parts in enumerate(model.parts):
        c, h, w = (int(s) for s in shapes[i])
        assert [(first, size) for _, first, size in parts] == (
            [(ch * h * w, h * w) for ch in range(c)] if len(parts) > 1 else [(0, c * h * w)]), names[i]
        for pop, first, size in parts:
            two_d = pop.structure is not None
            assert two_d == ("channels" in layout[names[i]]), pop.label
            if two_d:
                assert size == h * w and abs(pop.structure.aspect_ratio - w / h) < 1e-12, pop.label
                tw, th = pop.max_atoms
                assert (tw, th) == tuple(layout[names[i]]["tile"]), pop.label
                assert w % tw == 0 and h % th == 0 and tw * th <= run.NEURONS_PER_CORE, "%s: tile" % pop.label
            else:
                assert pop.max_atoms == run.NEURONS_PER_CORE, "%s: no neurons-per-core limit" % pop.label
            where[id(pop)] = (i, first, (h, w) if two_d else None)
            if i > 0:
                check_cell(net, net["layers"][i - 1], pop.cell, first, size)

    delay = max(1, int(net["delay_steps"])) * float(net["dt_ms"])
    got = [defaultdict(float) for _ in net["layers"]]
    kinds = defaultdict(set)  # post population → synapse kinds it receives
    used = set()
    for pre, post, conn, synapse, receptor, label in sim.projections:
        i, p0, pre_map = where[id(pre)]
        j, q0, post_map = where[id(post)]
        assert j == i + 1, label
        kinds[id(post)].add(type(synapse).__name__)
        if isinstance(conn, Recorder.ConvolutionConnector):
            assert pre_map and post_map, "%s: ConvolutionConnector needs 2-D populations" % label
            used.add(net["layers"][i]["name"])
            assert synapse.delay == delay, "%s: delay %s, expected %s" % (label, synapse.delay, delay)
            synapses = expand_convolution(pre_map, post_map, conn)
        else:
            sign = 1 if receptor == "excitatory" else -1
            assert np.all(conn.rows[:, 2] * sign > 0), "%s: weight sign does not match the receptor" % label
            assert np.all(conn.rows[:, 3] == delay), "%s: delays" % label
            synapses = [(int(a), int(b), wt) for a, b, wt, _ in conn.rows]
        for a, b, wt in synapses:
            got[i][(p0 + a, q0 + b)] += wt
    for post_id, k in kinds.items():
        assert len(k) == 1 or "Convolution" not in k, "a Population mixes Convolution with other projections"
    assert used == set(conv_layers), "layers meant for ConvolutionConnector: %s, used: %s" % (conv_layers, used)

    synapse_count = 0
    for i, layer in enumerate(net["layers"]):
        want = defaultdict(float)
        for receptor in ("exc", "inh"):
            for a, b, wt, _ in run.load_list(os.path.join(export, "connections", "%s_%s.txt" % (layer["name"], receptor))):
                want[(int(a), int(b))] += wt
        assert set(got[i]) == set(want), "%s: %d synapses built, %d in the lists" % (
            layer["name"], len(got[i]), len(want))
        for key, wt in want.items():
            assert abs(got[i][key] - wt) <= 1e-6 * abs(wt) + 1e-9, "%s %s: %g against %g" % (
                layer["name"], key, got[i][key], wt)
        synapse_count += len(want)
    print("convolution_check ok layers=%s projections=%d synapses=%d" % (
        ",".join(conv_layers), len(sim.projections), synapse_count))


if __name__ == "__main__":
    main()
