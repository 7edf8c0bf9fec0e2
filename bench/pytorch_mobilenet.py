#!/usr/bin/python3
"""PyTorch peer for bench/mobilenet_vs_pytorch.sh: MobileNet v1 training steps on random images.

The net is spikeforge's `mobilenet_v1` (models/mobilenet.h), Keras's layout:
  conv 3x3 (stride 1 with CIFAR strides, 2 with ImageNet's), 32*alpha, no bias -> BN -> ReLU6
  13 x [depthwise 3x3 (stride s) -> BN -> ReLU6 -> pointwise 1x1 -> BN -> ReLU6]
  global average pool -> dropout 1e-3 -> linear to the classes (bias)
BN momentum 0.99 (PyTorch's momentum = 1 - 0.99), eps 1e-3, in train mode; SGD lr 0.01 momentum 0.9; softmax
cross-entropy. Random inputs and labels (speed does not depend on the values).

Each run times `--steps` steps after `--warmup` untimed ones. The last line printed is
  pytorch_ips=<images per second> layout=<channels_last|nchw> alpha=<a> size=<s> batch=<b>

Must run under Debian's /usr/bin/python3 (python3-torch).
"""

import argparse
import time

import torch
from torch import nn

BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


def conv_bn(cin, cout, kernel, stride, groups):
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01), nn.ReLU6(inplace=True)]


def mobilenet_v1(alpha, classes, cifar):
    c = int(32 * alpha)
    layers = conv_bn(3, c, 3, 1 if cifar else 2, 1)
    for channels, stride in BLOCKS:
        out = int(channels * alpha)
        layers += conv_bn(c, c, 3, stride, c) + conv_bn(c, out, 1, 1, 1)
        c = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(1e-3), nn.Linear(c, classes)]
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--size", type=int, default=32, help="input height and width (32: CIFAR strides)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--layout", choices=["channels_last", "nchw"], default="channels_last")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda, in plain fp32 (no TF32), as "
                   "spikeforge's cuDNN and cuBLAS calls")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = mobilenet_v1(a.alpha, a.classes, a.size <= 32)
    fmt = torch.channels_last if a.layout == "channels_last" else torch.contiguous_format
    dev = torch.device(a.device)
    torch.backends.cudnn.allow_tf32 = False  # PyTorch allows TF32 in cuDNN by default; spikeforge does not
    torch.backends.cuda.matmul.allow_tf32 = False
    model = model.to(dev, memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(a.batch, 3, a.size, a.size).to(dev, memory_format=fmt)
    y = torch.randint(0, a.classes, (a.batch,)).to(dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    loss.item()  # waits for the GPU
    seconds = time.perf_counter() - t0
    print(f"pytorch_ips={a.steps * a.batch / seconds:.2f} layout={a.layout} alpha={a.alpha} size={a.size} "
          f"batch={a.batch} device={a.device}")


if __name__ == "__main__":
    main()
