#!/usr/bin/env python3
"""Writes a NIR graph as other tools lay it out (Sinabs: node names "0", "1", ..., IF with r and v_threshold
only, a scalar groups, a 2-value input_shape, Flatten with input_type, unordered edges; fixed-length strings
and no metadata), with random test images, and the output spike counts a plain numpy simulation of it gives:
Input 1x8x8 -> Conv2d 2@3x3 pad 1 -> IF -> SumPool2d 2 -> Flatten -> Affine 3 -> IF -> Output.
Weights are multiples of 1/16, biases and images of 1/8, so every sum is exact in float32 whatever the order.

  /usr/bin/python3 tests/nir_foreign.py OUT_DIR   # writes OUT_DIR/foreign.nir, images.csv, expected.csv"""
import os
import sys

import h5py
import numpy as np

T, N = 30, 40
rng = np.random.default_rng(7)
w1 = (rng.integers(-3, 5, size=(2, 1, 3, 3)) / 16).astype(np.float32)
b1 = np.array([125.0, 0.0], dtype=np.float32)  # a current per second: 125 * 1 ms = 0.125 per step
w2 = (rng.integers(-4, 5, size=(3, 32)) / 16).astype(np.float32)
b2 = np.zeros(3, dtype=np.float32)
images = (rng.integers(0, 9, size=(N, 1, 8, 8)) / 8).astype(np.float32)


def conv(x):  # (1, 8, 8) -> (2, 8, 8), padding 1
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((2, 8, 8), dtype=np.float32)
    for o in range(2):
        for i in range(8):
            for j in range(8):
                out[o, i, j] = np.sum(xp[:, i:i + 3, j:j + 3] * w1[o])
    return out


def simulate(x):
    v1, v2 = np.zeros((2, 8, 8), np.float32), np.zeros(3, np.float32)
    drive = conv(x) + np.float32(0.125) * (b1 > 0)[:, None, None]
    counts = np.zeros(3, int)
    for _ in range(T):
        v1 += drive
        s1 = v1 >= 1.0
        v1[s1] = 0
        pooled = s1.reshape(2, 4, 2, 4, 2).sum(axis=(2, 4)).astype(np.float32)
        v2 += w2 @ pooled.reshape(-1) + b2
        s2 = v2 >= 1.0
        v2[s2] = 0
        counts += s2
    return counts


def main(out):
    os.makedirs(out, exist_ok=True)
    with h5py.File(os.path.join(out, "foreign.nir"), "w") as f:
        f.create_dataset("version", data=b"1.0")
        g = f.create_group("node")
        g.create_dataset("type", data=b"NIRGraph")
        nodes = g.create_group("nodes")

        def node(name, typ, **fields):
            n = nodes.create_group(name)
            n.create_dataset("type", data=typ.encode())
            for k, v in fields.items():
                n.create_dataset(k, data=v)

        node("input", "Input", shape=np.array([1, 8, 8]))
        node("0", "Conv2d", weight=w1, bias=b1, stride=np.array([1, 1]), padding=np.array([1, 1]),
             dilation=np.array([1, 1]), groups=1, input_shape=np.array([8, 8]))
        node("1", "IF", r=np.ones((2, 8, 8), np.float32), v_threshold=np.ones((2, 8, 8), np.float32))
        node("2", "SumPool2d", kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
        node("3", "Flatten", start_dim=0, end_dim=-1, input_type=np.array([2, 4, 4]))
        node("4", "Affine", weight=w2, bias=b2)
        node("5", "IF", r=np.ones(3, np.float32), v_threshold=np.ones(3, np.float32))
        node("output", "Output", shape=np.array([3]))
        edges = [("3", "4"), ("input", "0"), ("5", "output"), ("1", "2"), ("0", "1"), ("4", "5"), ("2", "3")]
        # numpy sizes "S" to the longest name, so "output" fills its width: no terminating NUL in the file.
        g.create_dataset("edges", data=np.array(edges, dtype="S"))
    np.savetxt(os.path.join(out, "images.csv"), images.reshape(N, -1), delimiter=",", fmt="%.3f")
    np.savetxt(os.path.join(out, "expected.csv"), np.array([simulate(x) for x in images]), delimiter=",", fmt="%d")


if __name__ == "__main__":
    main(sys.argv[1])
