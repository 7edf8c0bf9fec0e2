#!/usr/bin/env python3
"""Checks a NIR file against the NIR graph schema with h5py, independently of spikeforge's reader:
node types and their datasets' names and shapes, population shapes along the chain, and that every edge joins
existing nodes. Prints one line per node and exits 1 with the first problem.

  /usr/bin/python3 tests/nir_check.py network.nir"""
import sys

import h5py

FIELDS = {
    "Input": {"shape"},
    "Output": {"shape"},
    "Conv2d": {"weight", "bias", "stride", "padding", "dilation", "groups", "input_shape"},
    "Affine": {"weight", "bias"},
    "Linear": {"weight"},
    "IF": {"r", "v_threshold", "v_reset"},
    "CubaLIF": {"tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in"},
    "AvgPool2d": {"kernel_size", "stride", "padding"},
    "SumPool2d": {"kernel_size", "stride", "padding"},
    "Flatten": {"start_dim", "end_dim", "input_type"},
    "Scale": {"scale"},
}
NEURONS = {"IF", "CubaLIF"}


def fail(msg):
    print("nir_check: " + msg)
    sys.exit(1)


def text(d):
    v = d[()]
    return v.decode() if isinstance(v, bytes) else str(v)


def main(path):
    f = h5py.File(path, "r")
    if "version" not in f:
        fail("no version dataset")
    g = f["node"]
    if text(g["type"]) != "NIRGraph":
        fail("node/type is not NIRGraph")
    nodes = g["nodes"]
    edges = [(a.decode(), b.decode()) for a, b in g["edges"][()]]
    if g["edges"].shape[1:] != (2,):
        fail("edges must be N x 2")
    for a, b in edges:
        if a not in nodes or b not in nodes:
            fail("edge %s -> %s names a missing node" % (a, b))
    on_edges = {a for a, _ in edges} | {b for _, b in edges}
    succ = dict(edges)
    for name in nodes:
        n = nodes[name]
        t = text(n["type"])
        if t not in FIELDS:
            fail("node %s has unknown type %s" % (name, t))
        missing = FIELDS[t] - set(n.keys())
        if missing:
            fail("node %s (%s) lacks %s" % (name, t, sorted(missing)))
        if name not in on_edges:
            fail("node %s is on no edge" % name)
    # Walk the chain and check each population's shape against what its synapses make.
    start = [k for k in nodes if text(nodes[k]["type"]) == "Input"]
    if len(start) != 1:
        fail("expected one Input node")
    cur, shape = start[0], tuple(int(x) for x in nodes[start[0]]["shape"][()])
    while True:
        n = nodes[cur]
        t = text(n["type"])
        if t == "Conv2d":
            w = n["weight"].shape
            groups = int(n["groups"][()])
            if len(w) != 4 or w[1] * groups != shape[0]:
                fail("node %s: weight %s does not read %s" % (cur, w, shape))
            if n["bias"].shape != (w[0],) or n["stride"].shape != (2,) or n["padding"].shape != (2,):
                fail("node %s: bias / stride / padding shapes" % cur)
            if tuple(n["input_shape"][()]) != shape[1:]:
                fail("node %s: input_shape %s, but it reads %s" % (cur, n["input_shape"][()], shape))
            s, p = n["stride"][()], n["padding"][()]
            shape = (w[0], (shape[1] + 2 * p[0] - w[2]) // s[0] + 1, (shape[2] + 2 * p[1] - w[3]) // s[1] + 1)
        elif t in ("AvgPool2d", "SumPool2d"):
            k, s = n["kernel_size"][()], n["stride"][()]
            shape = (shape[0], (shape[1] - k[0]) // s[0] + 1, (shape[2] - k[1]) // s[1] + 1)
        elif t == "Flatten":
            if tuple(n["input_type"][()]) != shape:
                fail("node %s: input_type %s, but it reads %s" % (cur, n["input_type"][()], shape))
            shape = (int(__import__("numpy").prod(shape)),)
        elif t in ("Affine", "Linear"):
            w = n["weight"].shape
            if len(shape) != 1 or w[1] != shape[0]:
                fail("node %s: weight %s does not read %s" % (cur, w, shape))
            if t == "Affine" and n["bias"].shape != (w[0],):
                fail("node %s: bias shape" % cur)
            shape = (w[0],)
        elif t in NEURONS or t == "Scale":
            for k in FIELDS[t]:
                if n[k].shape != shape:
                    fail("node %s: %s has shape %s, the population %s" % (cur, k, n[k].shape, shape))
        elif t == "Output":
            if tuple(n["shape"][()]) != shape:
                fail("Output shape %s, the last population %s" % (n["shape"][()], shape))
        print("%s %s %s" % (cur, t, list(shape)))
        if t == "Output":
            break
        if cur not in succ:
            fail("the chain stops at %s" % cur)
        cur = succ[cur]
    print("nir_check: ok, %d nodes, %d edges" % (len(nodes), len(edges)))


if __name__ == "__main__":
    main(sys.argv[1])
