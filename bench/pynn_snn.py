#!/usr/bin/python3
"""Run a spikeforge-converted spiking net (network.json) in PyNN on the Brian2 back end.

usage: /usr/bin/python3 bench/pynn_snn.py DIR [--steps N] [--images N] [--simulator brian2]
                                             [--connector fromlist|bulk] [--refractory pynn|nest]
       /usr/bin/python3 bench/pynn_snn.py --self-test [DIR]

DIR is the output folder of `spikeforge convert ... --record-input --out DIR`:
  network.json       the SNN (layers, weights, LIF parameters); only neuron "lif" is supported here
  input_spikes.csv   image,pixel,step (image: the test-set index): the exact input spikes spikeforge used, so both simulators see
                     the same input (fed to a SpikeSourceArray, spike at step*dt_ms ms)
  predictions.csv    spikeforge's results; only its `label` column is read here (for the accuracy)
  summary.json       optional: default --steps / --images

One PyNN Population per layer (IF_curr_exp), FromListConnector projections split by sign (negative
weights on receptor 'inhibitory', written negative), bias b (per channel or per neuron) as i_offset = lif.i_offset + b,
delay delay_steps*dt_ms. Timing matches spikeforge's: an input spike at step s reaches the synaptic
current in step s+1 and the membrane from step s+2, and so on layer by layer. One difference stays
unless --refractory nest is given: see brian2_tau_refrac(). With it, spike counts equal spikeforge's
up to float32 rounding (the Liu net, 10 images: every layer's total identical, 8/10 output vectors
identical, the other two off by one spike).
Every image runs steps*dt_ms ms from a fresh state (sim.reset() + new spike times; the network is
built once). pyNN.brian2 0.10's reset works: it restores the brian2 Network stored before the first
run (membranes, synaptic currents, refractory state, monitors) and the next run stores the new input;
--self-test checks that an image run again after another one gives the same spikes in every layer. Class = argmax of the output layer's spike counts, ties broken by the highest membrane
potential at the end of the run.

Prints `image=i label=l predicted=p spikes=c0,c1,...` per image, writes DIR/pynn_predictions.csv
(same columns as predictions.csv), and as its LAST line
  brian2_s=<build + simulation seconds, file reading excluded> images=<n> accuracy=<fraction>

--self-test checks the connection-list expansion (conv / depthwise_conv / avgpool / dense, with and
without pool_in, stride, padding) against a dense matrix computed directly from the layer formulas;
with DIR it also checks DIR's layers, the weights PyNN actually holds (signs included), the
per-neuron i_offset, and that sim.reset() really restores the state. Its last line is
`self-test: N passed, M failed` (exit status 1 on any failure).

Must run under Debian's /usr/bin/python3 (packages python3-pynn, python3-brian, python3-numpy).
"""

import argparse
import csv
import json
import os
import sys
import time

import numpy as np


# ----------------------------------------------------------------------------------------------
# network.json -> connection lists (pure numpy; no simulator needed)
# ----------------------------------------------------------------------------------------------

def _prod(shape):
    return int(np.prod(shape, dtype=np.int64))


def pool_in_map(in_shape, p):
    """Non-spiking average pooling merged into the next layer.

    Returns (pooled_shape, pre) where pre[m] lists the p*p presynaptic indices (flattened C,H,W of
    in_shape) that feed pooled position m (flattened C,H,W of pooled_shape), each with factor
    1/p^2: input (c,y,x) goes to (c, y//p, x//p); rows/columns past the last full window drop out.
    """
    C, H, W = in_shape
    PH, PW = H // p, W // p
    c = np.arange(C).reshape(C, 1, 1, 1, 1)
    Y = np.arange(PH).reshape(1, PH, 1, 1, 1)
    X = np.arange(PW).reshape(1, 1, PW, 1, 1)
    dy = np.arange(p).reshape(1, 1, 1, p, 1)
    dx = np.arange(p).reshape(1, 1, 1, 1, p)
    pre = (c * H + Y * p + dy) * W + X * p + dx
    return (C, PH, PW), pre.reshape(C * PH * PW, p * p).astype(np.int64)


def _window_lists(in_shape, out_shape, kernel, stride, padding, weight_of, in_channel_of):
    """Shared conv-like expansion.

    For out (o,y,x) and kernel offset (ky,kx) reading input (c, y*stride+ky-padding,
    x*stride+kx-padding) with c in in_channel_of(o) (an (O, Cr) array of input channels),
    weight_of(o_idx, r_idx, ky, kx) gives the weight. Returns (pre, post, w) flattened.
    """
    C, H, W = in_shape
    O, OH, OW = out_shape
    chans = in_channel_of  # (O, Cr)
    Cr = chans.shape[1]
    o = np.arange(O).reshape(O, 1, 1, 1, 1, 1)
    y = np.arange(OH).reshape(1, OH, 1, 1, 1, 1)
    x = np.arange(OW).reshape(1, 1, OW, 1, 1, 1)
    r = np.arange(Cr).reshape(1, 1, 1, Cr, 1, 1)
    ky = np.arange(kernel).reshape(1, 1, 1, 1, kernel, 1)
    kx = np.arange(kernel).reshape(1, 1, 1, 1, 1, kernel)
    iy = y * stride + ky - padding
    ix = x * stride + kx - padding
    c = chans[o, r]
    full = (O, OH, OW, Cr, kernel, kernel)
    valid = np.broadcast_to((iy >= 0) & (iy < H) & (ix >= 0) & (ix < W), full)
    pre = np.broadcast_to((c * H + iy) * W + ix, full)[valid]
    post = np.broadcast_to((o * OH + y) * OW + x, full)[valid]
    w = np.broadcast_to(weight_of(o, r, ky, kx), full)[valid]
    return pre.astype(np.int64), post.astype(np.int64), w.astype(np.float64)


def layer_lists(layer):
    """Expand one network.json layer into (pre, post, weight) arrays over the layer's own input
    population (in_shape, BEFORE pool_in) and output population (out_shape). Duplicate pre->post
    pairs are summed and exact zeros dropped; the result is sorted by (post, pre)."""
    kind = layer["kind"]
    in_shape = tuple(int(v) for v in layer["in_shape"])
    out_shape = tuple(int(v) for v in layer["out_shape"])
    if len(in_shape) != 3 or len(out_shape) != 3:
        raise ValueError(f"layer {layer.get('name')}: in_shape/out_shape must be [C,H,W]")
    p = int(layer.get("pool_in", 0) or 0)
    if p > 1:
        mid_shape, pool_pre = pool_in_map(in_shape, p)
    else:
        mid_shape, pool_pre = in_shape, None
    C, H, W = mid_shape
    O, OH, OW = out_shape
    K = int(layer.get("kernel", 0) or 0)
    S = int(layer.get("stride", 0) or 0) or K
    P = int(layer.get("padding", 0) or 0)

    def weights():
        if "weight" not in layer:
            raise ValueError(f"layer {layer.get('name')} ({kind}) has no weight")
        w = np.asarray(layer["weight"], dtype=np.float64)
        return w.reshape([int(v) for v in layer["weight_shape"]])

    def check_spatial():
        eh = (H + 2 * P - K) // S + 1
        ew = (W + 2 * P - K) // S + 1
        if (OH, OW) != (eh, ew):
            raise ValueError(f"layer {layer.get('name')}: out_shape {list(out_shape)} does not follow "
                             f"from input {list(mid_shape)}, kernel {K}, stride {S}, padding {P}")

    if kind == "conv":
        w = weights()
        if w.shape != (O, C, K, K):
            raise ValueError(f"layer {layer.get('name')}: weight_shape {list(w.shape)} != {[O, C, K, K]}")
        check_spatial()
        chans = np.broadcast_to(np.arange(C).reshape(1, C), (O, C))
        pre, post, val = _window_lists(mid_shape, out_shape, K, S, P,
                                       lambda o, r, ky, kx: w[o, r, ky, kx], chans)
    elif kind == "depthwise_conv":
        w = weights()
        if O % C != 0 or w.shape != (O, 1, K, K):
            raise ValueError(f"layer {layer.get('name')}: depthwise weight_shape {list(w.shape)} "
                             f"does not fit {C} input / {O} output channels")
        check_spatial()
        chans = (np.arange(O) // (O // C)).reshape(O, 1)
        pre, post, val = _window_lists(mid_shape, out_shape, K, S, P,
                                       lambda o, r, ky, kx: w[o, 0, ky, kx], chans)
    elif kind == "avgpool":
        if O != C:
            raise ValueError(f"layer {layer.get('name')}: avgpool changes the channel count")
        check_spatial()
        pw = float(layer["pool_weight"])
        chans = np.arange(C).reshape(C, 1)
        pre, post, val = _window_lists(mid_shape, out_shape, K, S, P,
                                       lambda o, r, ky, kx: np.full((1,) * 6, pw), chans)
    elif kind == "dense":
        w = weights()
        n_in, n_out = C * H * W, O * OH * OW
        if w.shape != (n_out, n_in):
            raise ValueError(f"layer {layer.get('name')}: dense weight_shape {list(w.shape)} != {[n_out, n_in]}")
        post, pre = np.meshgrid(np.arange(n_out), np.arange(n_in), indexing="ij")
        pre, post, val = pre.ravel(), post.ravel(), w.ravel()
    else:
        raise ValueError(f"layer {layer.get('name')}: unsupported kind {kind!r}")

    if pool_pre is not None:  # compose: raw input -> pooled position (1/p^2) -> this layer's weights
        pre = pool_pre[pre].ravel()
        post = np.repeat(post, p * p)
        val = np.repeat(val / (p * p), p * p)

    n_post = _prod(out_shape)
    key = pre.astype(np.int64) * n_post + post
    ukey, inv = np.unique(key, return_inverse=True)
    wsum = np.bincount(inv.ravel(), weights=val, minlength=ukey.size)
    upre, upost = ukey // n_post, ukey % n_post
    keep = wsum != 0.0
    upre, upost, wsum = upre[keep], upost[keep], wsum[keep]
    order = np.lexsort((upre, upost))
    return upre[order], upost[order], wsum[order]


def split_by_sign(pre, post, w, delay):
    """-> (excitatory list, inhibitory list) of (pre, post, weight, delay) rows; inhibitory weights
    stay negative (pyNN.brian2 adds them to the 'ii' current as given, without any sign check)."""
    rows = np.column_stack([pre.astype(np.float64), post.astype(np.float64), w,
                            np.full(w.shape, float(delay))])
    return rows[w > 0], rows[w < 0]


def neuron_offsets(layer, base_offset):
    """i_offset per neuron of the layer: lif.i_offset + its bias (nA), given per output channel or per neuron."""
    O, OH, OW = (int(v) for v in layer["out_shape"])
    off = np.full(O * OH * OW, float(base_offset))
    if "bias" in layer and layer["bias"] is not None:
        b = np.asarray(layer["bias"], dtype=np.float64)
        if b.size == O * OH * OW:
            off += b
        elif b.size == O:
            off += np.repeat(b, OH * OW)
        else:
            raise ValueError(f"layer {layer.get('name')}: {b.size} biases for {O} channels of {OH}x{OW} neurons")
    return off


def check_network(net):
    if net.get("format") != "spikeforge-snn":
        raise ValueError("network.json: format is not 'spikeforge-snn'")
    if int(net.get("version", 0)) != 1:
        raise ValueError(f"network.json: unsupported version {net.get('version')}")
    neuron = net.get("neuron")
    if neuron != "lif":
        raise SystemExit(f"pynn_snn.py: neuron {neuron!r} is not supported: this benchmark runs only "
                         f"'lif' nets (convert with --neuron lif)")
    shape = [int(v) for v in net["input_shape"]]
    for layer in net["layers"]:
        if [int(v) for v in layer["in_shape"]] != shape:
            raise ValueError(f"layer {layer['name']}: in_shape {layer['in_shape']} != previous output {shape}")
        shape = [int(v) for v in layer["out_shape"]]


# ----------------------------------------------------------------------------------------------
# Reference for --self-test: the layer formulas, written out loop by loop
# ----------------------------------------------------------------------------------------------

def reference_forward(layer, x):
    """The linear map of one layer applied to a flattened input x (in_shape, before pool_in),
    straight from the definitions in the network.json spec (no shared code with layer_lists)."""
    C, H, W = (int(v) for v in layer["in_shape"])
    a = np.asarray(x, dtype=np.float64).reshape(C, H, W)
    p = int(layer.get("pool_in", 0) or 0)
    if p > 1:
        pooled = np.zeros((C, H // p, W // p))
        for c in range(C):
            for Y in range(H // p):
                for X in range(W // p):
                    pooled[c, Y, X] = a[c, Y * p:(Y + 1) * p, X * p:(X + 1) * p].sum() / (p * p)
        a = pooled
    C, H, W = a.shape
    O, OH, OW = (int(v) for v in layer["out_shape"])
    kind = layer["kind"]
    out = np.zeros((O, OH, OW))
    if kind == "dense":
        w = np.asarray(layer["weight"], dtype=np.float64).reshape(O * OH * OW, C * H * W)
        flat = a.reshape(-1)
        res = np.zeros(O * OH * OW)
        for o in range(O * OH * OW):
            for i in range(C * H * W):
                res[o] += w[o, i] * flat[i]
        return res
    K = int(layer["kernel"])
    S = int(layer.get("stride", 0) or 0) or K
    P = int(layer.get("padding", 0) or 0)

    def at(c, iy, ix):
        return a[c, iy, ix] if 0 <= iy < H and 0 <= ix < W else 0.0

    if kind == "avgpool":
        pw = float(layer["pool_weight"])
    else:
        w = np.asarray(layer["weight"], dtype=np.float64).reshape([int(v) for v in layer["weight_shape"]])
    for o in range(O):
        for y in range(OH):
            for xx in range(OW):
                s = 0.0
                for ky in range(K):
                    for kx in range(K):
                        iy, ix = y * S + ky - P, xx * S + kx - P
                        if kind == "conv":
                            for c in range(C):
                                s += w[o, c, ky, kx] * at(c, iy, ix)
                        elif kind == "depthwise_conv":
                            s += w[o, 0, ky, kx] * at(o // (O // C), iy, ix)
                        elif kind == "avgpool":
                            s += pw * at(o, iy, ix)
                out[o, y, xx] = s
    return out.reshape(-1)


def lists_to_matrix(layer):
    """Dense (n_pre x n_post) matrix rebuilt from the split excitatory / inhibitory lists."""
    pre, post, w = layer_lists(layer)
    exc, inh = split_by_sign(pre, post, w, 1.0)
    if np.any(exc[:, 2] <= 0) or np.any(inh[:, 2] >= 0):
        raise AssertionError("sign split is wrong")
    M = np.zeros((_prod(layer["in_shape"]), _prod(layer["out_shape"])))
    for rows in (exc, inh):
        np.add.at(M, (rows[:, 0].astype(int), rows[:, 1].astype(int)), rows[:, 2])
    return M


def synthetic_layers(rng):
    """Small layers covering every kind and option the expansion handles."""
    def conv(name, kind, in_shape, O, K, S, P, pool_in=0, zero_frac=0.2):
        C = in_shape[0]
        wc = 1 if kind == "depthwise_conv" else C
        w = rng.normal(0, 1, (O, wc, K, K))
        w[rng.random(w.shape) < zero_frac] = 0.0
        H = in_shape[1] // pool_in if pool_in > 1 else in_shape[1]
        Wd = in_shape[2] // pool_in if pool_in > 1 else in_shape[2]
        out = [O, (H + 2 * P - K) // S + 1, (Wd + 2 * P - K) // S + 1]
        return {"name": name, "kind": kind, "in_shape": list(in_shape), "out_shape": out,
                "pool_in": pool_in, "kernel": K, "stride": S, "padding": P, "pool_weight": 0,
                "weight_shape": list(w.shape), "weight": w.ravel().tolist()}

    def dense(name, in_shape, n_out, pool_in=0):
        n_in = _prod(in_shape) if pool_in <= 1 else in_shape[0] * (in_shape[1] // pool_in) * (in_shape[2] // pool_in)
        w = rng.normal(0, 1, (n_out, n_in))
        return {"name": name, "kind": "dense", "in_shape": list(in_shape), "out_shape": [n_out, 1, 1],
                "pool_in": pool_in, "weight_shape": [n_out, n_in], "weight": w.ravel().tolist()}

    def avgpool(name, in_shape, K, pool_in=0):
        C, H, W = in_shape
        if pool_in > 1:
            H, W = H // pool_in, W // pool_in
        return {"name": name, "kind": "avgpool", "in_shape": list(in_shape),
                "out_shape": [C, (H - K) // K + 1, (W - K) // K + 1], "pool_in": pool_in,
                "kernel": K, "stride": K, "padding": 0, "pool_weight": 1.0 / (K * K)}

    return [
        conv("conv_valid", "conv", [2, 6, 6], 3, 3, 1, 0),
        conv("conv_stride2_pad1", "conv", [2, 7, 7], 3, 3, 2, 1),
        conv("conv_pool_in2_odd", "conv", [2, 9, 9], 2, 3, 1, 1, pool_in=2),
        conv("conv_pool_in3", "conv", [1, 9, 9], 2, 2, 1, 0, pool_in=3),
        conv("depthwise", "depthwise_conv", [3, 6, 6], 3, 3, 1, 1),
        conv("depthwise_x2_pool_in", "depthwise_conv", [2, 8, 8], 4, 3, 1, 0, pool_in=2),
        avgpool("avgpool2", [2, 6, 6], 2),
        avgpool("avgpool3_odd", [2, 7, 7], 3),
        avgpool("avgpool_pool_in", [1, 8, 8], 2, pool_in=2),
        dense("dense", [2, 3, 3], 4),
        dense("dense_pool_in2", [3, 4, 5], 3, pool_in=2),
    ]


# ----------------------------------------------------------------------------------------------
# PyNN side
# ----------------------------------------------------------------------------------------------

def import_simulator(name):
    if name != "brian2":
        raise SystemExit(f"pynn_snn.py: unsupported simulator {name!r} (only brian2)")
    import warnings
    warnings.filterwarnings("ignore", category=FutureWarning)     # numpy-1.24 noise from pythran/brian2
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import brian2
    # Code generation target: 'numpy' (runtime mode: generated Python code on numpy arrays; needs no
    # compiler). The default 'auto' picks 'cython' when Cython and a C++ compiler are present (they are
    # here: python3-brian pulls in cython3, spikeforge needs build-essential). Measured on the Liu
    # small net (208k synapses, 1000 steps, 2 cores), identical spikes with both targets:
    #   numpy:  ~1.3 s per image; first run ~15 s (sympy picks the 'exact' integrator, ~2.8 s per
    #           NeuronGroup)
    #   cython: ~0.6 s per image; first run ~30 s with a warm ~/.cython cache, ~90 s on a fresh
    #           machine (it compiles its extensions)
    # so numpy is faster for the 10-image benchmark and behaves the same on every machine.
    # BRIAN2_CODEGEN=cython (or auto) overrides it.
    brian2.prefs.codegen.target = os.environ.get("BRIAN2_CODEGEN", "numpy")
    brian2.BrianLogger.log_level_warn()  # not the per-group "using method 'exact'" INFO lines
    import pyNN.brian2 as sim
    return sim, brian2


def spike_sequences(sim, times_per_pixel):
    return [sim.Sequence(t) for t in times_per_pixel]


def bulk_connector_class(sim, brian2):
    """FromListConnector that hands the whole list to brian2 in one Synapses.connect() call.

    pyNN.brian2 0.10's FromListConnector calls Synapses.connect() once per postsynaptic neuron
    (~18 ms each) and then sets weight and delay synapse by synapse from Python (~45 us each):
    ~65 s for the Liu small net's 208k synapses, i.e. the build dwarfs the simulation. Same list,
    same Projection, same weights (checked by --self-test --connector bulk); opt-in.
    """
    class BulkFromListConnector(sim.FromListConnector):
        def connect(self, projection):
            rows = np.asarray(self.conn_list, dtype=np.float64)
            if rows.size == 0:
                return
            names = list(self.column_names)
            syn = projection._brian2_synapses[0][0]
            pre, post = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
            syn.connect(i=pre, j=post)
            # values in brian2's creation order, looked up by (pre, post) (pairs are unique here)
            n_post = projection.post.size
            key = pre * n_post + post
            order = np.argsort(key)
            got = np.asarray(syn.i[:], dtype=np.int64) * n_post + np.asarray(syn.j[:], dtype=np.int64)
            pos = order[np.searchsorted(key[order], got)]
            if not np.array_equal(key[pos], got):
                raise RuntimeError("BulkFromListConnector: synapse lookup failed")
            units = brian2.nA if "weight" in names else None
            for name in names:
                col = rows[pos, 2 + names.index(name)]
                if name == "weight":
                    syn.weight = col * units
                elif name == "delay":
                    dt = projection._simulator.state.dt
                    syn.delay = np.round(col / dt) * dt * brian2.ms
                else:
                    raise ValueError(f"BulkFromListConnector: unsupported column {name}")
            projection._n_connections += len(rows)
    return BulkFromListConnector


def brian2_tau_refrac(tau_refrac, dt, mode):
    """tau_refrac to hand to PyNN. 'pynn': as given. 'nest': brian2 counts the refractory period from
    the spike's own step (not_refractory = timestep(t - lastspike) >= timestep(tau_refrac)), so with
    tau_refrac = dt a neuron integrates again in the very next step, whereas NEST's iaf_psc_exp (and
    spikeforge) hold v for round(tau_refrac/dt) whole steps after the spike step; one extra dt makes
    brian2 hold v for the same steps."""
    if mode == "pynn":
        return float(tau_refrac)
    k = int(round(float(tau_refrac) / dt))
    return (k + 1) * dt if k > 0 else 0.0


def build_network(sim, brian2, net, record_all=False, connector="fromlist", refractory="pynn"):
    """Build populations and projections; returns dict with the PyNN objects."""
    dt = float(net.get("dt_ms", 1.0))
    delay = max(dt, int(net.get("delay_steps", 1)) * dt)
    lif = net["lif"]
    tau_refrac = brian2_tau_refrac(lif["tau_refrac"], dt, refractory)
    sim.setup(timestep=dt, min_delay=dt, max_delay=max(delay, dt))
    # pyNN.brian2 0.10 creates the SpikeSourceArray's SpikeGeneratorGroup without a clock, i.e. on
    # brian2's defaultclock (0.1 ms): the input and its synaptic pathway would then run 10 times per
    # step (and warn about the dt mismatch). Put the default clock on the same dt as the network.
    brian2.defaultclock.dt = dt * brian2.ms

    n_in = _prod(net["input_shape"])
    inp = sim.Population(n_in, sim.SpikeSourceArray(spike_times=[[] for _ in range(n_in)]), label="input")
    pops, projs, lists = [inp], [], []
    for layer in net["layers"]:
        offsets = neuron_offsets(layer, lif.get("i_offset", 0.0))
        cell = sim.IF_curr_exp(cm=lif["cm"], tau_m=lif["tau_m"], tau_refrac=tau_refrac,
                               v_rest=lif["v_rest"], v_reset=lif["v_reset"], v_thresh=lif["v_thresh"],
                               tau_syn_E=lif["tau_syn"], tau_syn_I=lif["tau_syn"], i_offset=offsets)
        pop = sim.Population(_prod(layer["out_shape"]), cell, label=layer["name"])
        pop.initialize(v=lif["v_rest"])
        pre, post, w = layer_lists(layer)
        exc, inh = split_by_sign(pre, post, w, delay)
        lists.append((exc, inh))
        for rows, receptor in ((exc, "excitatory"), (inh, "inhibitory")):
            if len(rows) == 0:
                continue
            if connector == "bulk":
                conn = bulk_connector_class(sim, brian2)(rows, column_names=["weight", "delay"])
            else:
                conn = sim.FromListConnector(rows, column_names=["weight", "delay"])
            projs.append(sim.Projection(pops[-1], pop, conn, sim.StaticSynapse(),
                                        receptor_type=receptor, label=f"{layer['name']}_{receptor[:3]}"))
        pops.append(pop)
        if record_all:
            pop.record("spikes")
    out = pops[-1]
    out.record(["spikes", "v"])
    return {"input": inp, "pops": pops, "projs": projs, "lists": lists, "out": out,
            "dt": dt, "delay": delay}


def input_times(spikes, image, n_in, steps, dt):
    """Per-pixel sorted spike times (ms) of one image from the input_spikes.csv rows."""
    rows = spikes[(spikes[:, 0] == image) & (spikes[:, 2] < steps)]
    times = [[] for _ in range(n_in)]
    order = np.lexsort((rows[:, 2], rows[:, 1]))
    for pix, step in rows[order][:, 1:3]:
        times[int(pix)].append(float(step) * dt)
    return times


def run_image(sim, model, times, steps):
    """Reset, load new input spike times, run; returns (counts, v_end) of the output layer."""
    sim.reset()
    model["input"].set(spike_times=spike_sequences(sim, times))
    sim.run(steps * model["dt"])
    out = model["out"]
    seg = out.get_data(["spikes", "v"], clear=True).segments[-1]
    counts = np.zeros(out.size, dtype=np.int64)
    for k, st in enumerate(seg.spiketrains):
        idx = st.annotations.get("source_index", None)
        if idx is None:
            idx = out.id_to_index(st.annotations["source_id"]) if "source_id" in st.annotations else k
        counts[int(idx)] = len(st)
    v_end = np.full(out.size, -np.inf)
    for sig in seg.analogsignals:
        if sig.name == "v":
            ch = sig.array_annotations.get("channel_index", np.arange(sig.shape[1]))
            v_end[np.asarray(ch, dtype=int)] = np.asarray(sig.magnitude)[-1, :]
    return counts, v_end


def classify(counts, v_end):
    best = counts.max()
    tied = np.flatnonzero(counts == best)
    return int(tied[np.argmax(v_end[tied])])


def spike_counts_all(sim, model):
    """Spike counts of the hidden populations (self-test only; run_image reads the output layer)."""
    res = []
    for pop in model["pops"][1:-1]:
        seg = pop.get_data("spikes", clear=True).segments[-1]
        res.append(np.array([len(st) for st in seg.spiketrains]))
    return res


# ----------------------------------------------------------------------------------------------
# I/O
# ----------------------------------------------------------------------------------------------

def read_inputs(d):
    with open(os.path.join(d, "network.json")) as f:
        net = json.load(f)
    path = os.path.join(d, "input_spikes.csv")
    with open(path) as f:
        header = f.readline().strip().split(",")
    if header[:3] != ["image", "pixel", "step"]:
        raise ValueError(f"{path}: header is {header}, expected image,pixel,step")
    spikes = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    if spikes.size == 0:
        spikes = np.zeros((0, 3), dtype=np.int64)
    labels = {}
    pred_path = os.path.join(d, "predictions.csv")
    if os.path.exists(pred_path):
        with open(pred_path) as f:
            for row in csv.DictReader(f):
                labels[int(row["image"])] = int(row["label"])
    summary = {}
    sum_path = os.path.join(d, "summary.json")
    if os.path.exists(sum_path):
        with open(sum_path) as f:
            summary = json.load(f)
    return net, spikes, labels, summary


def main_run(args):
    net, spikes, labels, summary = read_inputs(args.dir)
    check_network(net)
    steps = args.steps or summary.get("steps") or net.get("steps")
    if not steps:
        raise SystemExit("pynn_snn.py: --steps not given and DIR/summary.json has no 'steps'")
    steps = int(steps)
    n_images = args.images or summary.get("images") or (len(labels) if labels else None) \
        or (int(spikes[:, 0].max()) + 1 if len(spikes) else 0)
    n_images = int(n_images)
    n_in = _prod(net["input_shape"])
    if len(spikes) and (spikes[:, 1].min() < 0 or spikes[:, 1].max() >= n_in):
        raise ValueError("input_spikes.csv: pixel index out of range for input_shape")

    dt = float(net.get("dt_ms", 1.0))
    # Images keep their test-set index (convert --first-image K writes K, K+1, ...).
    first = int(summary.get("first_image", 0))
    images = range(first, first + n_images)
    inputs = {image: input_times(spikes, image, n_in, steps, dt) for image in images}

    sim, brian2 = import_simulator(args.simulator)
    t0 = time.perf_counter()  # files read, input spike times sorted per pixel, modules imported
    model = build_network(sim, brian2, net, connector=args.connector, refractory=args.refractory)
    t_build = time.perf_counter() - t0
    rows, correct, t_img = [], 0, []
    for image in images:
        t1 = time.perf_counter()
        counts, v_end = run_image(sim, model, inputs[image], steps)
        pred = classify(counts, v_end)
        t_img.append(time.perf_counter() - t1)
        label = labels.get(image, -1)
        correct += int(pred == label)
        rows.append((image, label, pred, counts))
        print(f"image={image} label={label} predicted={pred} spikes={','.join(map(str, counts))}", flush=True)
    total = time.perf_counter() - t0
    sim.end()

    with open(os.path.join(args.dir, "pynn_predictions.csv"), "w") as f:
        f.write("image,label,predicted,output_spikes\n")
        for image, label, pred, counts in rows:
            f.write(f"{image},{label},{pred},{' '.join(map(str, counts))}\n")
    n_syn = sum(len(e) + len(i) for e, i in model["lists"])
    later = f"{np.mean(t_img[1:]):.3f}" if len(t_img) > 1 else "-"
    # The first image's run also pays brian2's one-time preparation (sympy picks the 'exact'
    # integrator for every NeuronGroup, ~2.8 s each here; code generation).
    print(f"# build_s={t_build:.3f} first_image_s={t_img[0] if t_img else 0:.3f} later_images_mean_s={later} "
          f"synapses={n_syn} steps={steps} dt_ms={dt:g} codegen={brian2.prefs.codegen.target} "
          f"connector={args.connector} refractory={args.refractory}")
    acc = correct / n_images if n_images and labels else float("nan")
    print(f"brian2_s={total:.3f} images={n_images} accuracy={acc:.4f}")


def main_self_test(args):
    passed, failed = 0, 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        passed += bool(ok)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}", flush=True)

    rng = np.random.default_rng(1234)
    for layer in synthetic_layers(rng):  # full matrices: every input basis vector through the reference
        n_in = _prod(layer["in_shape"])
        M = lists_to_matrix(layer)
        R = np.stack([reference_forward(layer, np.eye(n_in)[i]) for i in range(n_in)])
        err = float(np.abs(M - R).max())
        check(f"expansion {layer['name']} {layer['in_shape']}->{layer['out_shape']}",
              M.shape == R.shape and err < 1e-12, f"max |diff| {err:.2e}")

    if not args.dir:
        print(f"self-test: {passed} passed, {failed} failed")
        return 1 if failed else 0

    net, spikes, labels, summary = read_inputs(args.dir)
    check_network(net)
    for layer in net["layers"]:  # DIR's layers: random probe vectors (full matrices may be large)
        M = lists_to_matrix(layer)
        probes = rng.normal(0, 1, (3, _prod(layer["in_shape"])))
        err = max(float(np.abs(x @ M - reference_forward(layer, x)).max()) for x in probes)
        check(f"expansion {args.dir} layer {layer['name']}", err < 1e-9, f"max |diff| {err:.2e}")

    sim, brian2 = import_simulator(args.simulator)
    lif = net["lif"]
    steps = int(args.steps or summary.get("steps") or net.get("steps") or 100)
    n_in = _prod(net["input_shape"])
    n_img = int(spikes[:, 0].max()) + 1 if len(spikes) else 1
    img_b = 1 if n_img > 1 else 0
    first_counts = {}
    for connector in ("fromlist", "bulk"):
        model = build_network(sim, brian2, net, record_all=True, connector=connector)
        delays = np.concatenate([np.asarray(prj.get("delay", format="list", with_address=False), dtype=float)
                                 for prj in model["projs"]])
        check(f"[{connector}] all {delays.size} synaptic delays are {model['delay']:g} ms",
              delays.size > 0 and np.abs(delays - model["delay"]).max() < 1e-9, str(np.unique(delays)))
        for layer, pop, (exc, inh) in zip(net["layers"], model["pops"][1:], model["lists"]):
            pre, post, w = layer_lists(layer)
            want = np.zeros((_prod(layer["in_shape"]), pop.size))
            want[pre, post] = w
            got = np.zeros_like(want)
            for prj in model["projs"]:
                if prj.post is pop:
                    wa = np.nan_to_num(prj.get("weight", format="array"), nan=0.0)
                    if prj.receptor_type == "inhibitory" and np.any(wa > 0):
                        check(f"[{connector}] {layer['name']}: inhibitory weights negative", False)
                    got += wa
            err = float(np.abs(got - want).max())
            check(f"[{connector}] pyNN weights {layer['name']} ({len(exc)} exc + {len(inh)} inh)",
                  err < 1e-9, f"max |diff| {err:.2e}")
            off = np.asarray(pop.get("i_offset", simplify=False))
            err = float(np.abs(off - neuron_offsets(layer, lif.get("i_offset", 0.0))).max())
            check(f"[{connector}] pyNN i_offset {layer['name']}", err < 1e-9, f"max |diff| {err:.2e}")
        seqs = []
        for image in (0, img_b, 0):
            counts, _ = run_image(sim, model, input_times(spikes, image, n_in, steps, model["dt"]), steps)
            seqs.append(spike_counts_all(sim, model) + [counts])
            check(f"[{connector}] run of image {image} ends at t={steps * model['dt']:g} ms",
                  abs(sim.get_current_time() - steps * model["dt"]) < 1e-9, f"t={sim.get_current_time():g}")
        same = all(np.array_equal(a, b) for a, b in zip(seqs[0], seqs[2]))
        check(f"[{connector}] reset: image 0 run again after image {img_b} gives identical spike counts "
              f"in every layer", same, " / ".join(f"{int(a.sum())} vs {int(b.sum())}" for a, b in zip(seqs[0], seqs[2])))
        check(f"[{connector}] the network spikes at all", sum(int(a.sum()) for a in seqs[0]) > 0)
        first_counts[connector] = seqs[0]
        sim.end()
    same = all(np.array_equal(a, b) for a, b in zip(first_counts["fromlist"], first_counts["bulk"]))
    check("fromlist and bulk connectors give identical spike counts in every layer", same)
    print(f"self-test: {passed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description="Run a spikeforge network.json in PyNN (Brian2 back end).")
    ap.add_argument("dir", nargs="?", help="spikeforge convert --out folder")
    ap.add_argument("--steps", type=int, default=None, help="time steps per image (default: summary.json)")
    ap.add_argument("--images", type=int, default=None, help="images to run (default: summary.json / all)")
    ap.add_argument("--simulator", default="brian2", choices=["brian2"])
    ap.add_argument("--connector", default="fromlist", choices=["fromlist", "bulk"],
                    help="fromlist: PyNN's FromListConnector (default); bulk: the same lists handed to "
                         "brian2 in one connect() call per projection (much faster build)")
    ap.add_argument("--refractory", default="pynn", choices=["pynn", "nest"],
                    help="pynn: tau_refrac handed to IF_curr_exp as given (default; in brian2, tau_refrac = "
                         "dt then holds v in no step after the spike step); nest: tau_refrac + dt, so that "
                         "v is held for round(tau_refrac/dt) steps after the spike step, as in NEST's "
                         "iaf_psc_exp and spikeforge")
    ap.add_argument("--self-test", action="store_true",
                    help="check the connection-list expansion (and, with DIR, the PyNN network and reset)")
    args = ap.parse_args()
    if args.self_test:
        return main_self_test(args)
    if not args.dir:
        ap.error("DIR is required")
    main_run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
