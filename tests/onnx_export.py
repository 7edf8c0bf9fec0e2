#!/usr/bin/env python3
"""Trains a small net on MNIST in PyTorch, exports it with torch.onnx.export and writes PyTorch's own outputs on
the test images, for tests/test_onnx.cpp to compare spikeforge's import against image by image.

  /usr/bin/python3 tests/onnx_export.py --net liu|mobile --data DIR --out DIR [--epochs N] [--train-images N]

Writes OUT/model.onnx and OUT/torch_outputs.csv (image,label,predicted,output_0..9; outputs to 9 digits).
Run with Debian's /usr/bin/python3 (python3-torch)."""
import argparse
import os
import struct

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir, prefix):
    x = read_idx(os.path.join(data_dir, prefix + "-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(data_dir, prefix + "-labels-idx1-ubyte")).astype(np.int64)
    return torch.from_numpy(x[:, None]), torch.from_numpy(y)


def liu_small():
    # Liu (2017)'s small MNIST ConvNet, as spikeforge builds it (models/zoo.h): no conv bias, average pooling.
    return nn.Sequential(nn.Conv2d(1, 6, 5, bias=False), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(6, 12, 5, bias=False), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(192, 10))


def mobile_block():
    # A MobileNet v1 stem: conv (with a bias) + BN + ReLU6, depthwise 3x3 + BN + ReLU6, pointwise + BN + ReLU6,
    # global pooling, dropout, classifier, softmax.
    return nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6(),
                         nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
                         nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(32, 10),
                         nn.Softmax(dim=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", choices=["liu", "mobile"], required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-images", type=int, default=60000)
    ap.add_argument("--opset", type=int, default=13)
    args = ap.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(2)
    x, y = load(args.data, "train")
    x, y = x[:args.train_images], y[:args.train_images]
    tx, ty = load(args.data, "t10k")
    model = liu_small() if args.net == "liu" else mobile_block()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x))
        for s in range(0, len(x), 64):
            idx = perm[s:s + 64]
            out = model(x[idx])
            # The mobile net ends in a softmax: its loss is the log of it; the Liu net trains on logits.
            loss = (nn.functional.nll_loss(torch.log(out + 1e-12), y[idx]) if args.net == "mobile"
                    else nn.functional.cross_entropy(out, y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    os.makedirs(args.out, exist_ok=True)
    # PRESERVE keeps BatchNormalization nodes (eval mode folds them into the convolutions); the exported
    # nodes are in inference form all the same.
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), os.path.join(args.out, "model.onnx"),
                      opset_version=args.opset, input_names=["image"], output_names=["scores"],
                      dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE)
    with torch.no_grad():
        out = model(tx)
        # spikeforge drops a final softmax (its outputs are the logits): compare those.
        if args.net == "mobile":
            out = model[:-1](tx)
    with open(os.path.join(args.out, "torch_outputs.csv"), "w") as f:
        f.write("image,label,predicted," + ",".join("output_%d" % k for k in range(10)) + "\n")
        pred = out.argmax(1)
        for i in range(len(tx)):
            f.write("%d,%d,%d,%s\n" % (i, ty[i], pred[i], ",".join("%.9g" % v for v in out[i].tolist())))


if __name__ == "__main__":
    main()
