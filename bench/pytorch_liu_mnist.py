#!/usr/bin/python3
"""PyTorch reference for the spikeforge "Liu small net" MNIST speed benchmark.

Recipe (Keras semantics, mirrored by experiments/mnist_relu.yaml with --set train.loss=mse, decay=0):

  input 1x28x28, pixels / 255
  Conv2d 1->6, 5x5, valid, no bias  -> ReLU -> AvgPool 2x2
  Conv2d 6->12, 5x5, valid, no bias -> ReLU -> AvgPool 2x2
  Flatten (12*4*4 = 192, channel-major NCHW order)
  Linear 192->10 with bias (no softmax)             = 3,880 parameters

  weights: Glorot (Xavier) uniform, biases zero
  loss:    MSE against one-hot labels, mean over all elements
  optim:   SGD, lr 0.1, momentum 0.9, no weight decay
  batch 50, reshuffled every epoch, 60000 training images

Only the training loop is timed (time.perf_counter around the epoch loop);
reading the IDX files and building tensors happen before the clock starts.
The last line printed is `pytorch_s=<seconds> test_acc=<fraction>`.

Must run under Debian's /usr/bin/python3 (python3-torch, python3-numpy).
"""

import argparse
import copy
import gzip
import os
import time

import numpy as np
import torch
from torch import nn

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 50
LR = 0.1
MOMENTUM = 0.9
WARMUP_STEPS = 20


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--data", default=os.path.join(REPO_ROOT, "data", "mnist"),
                   help="directory holding the four raw MNIST IDX files")
    p.add_argument("--threads", type=int, default=2,
                   help="torch.set_num_threads value (default 2)")
    p.add_argument("--epochs", type=int, default=1, help="training epochs (default 1)")
    p.add_argument("--seed", type=int, default=0, help="RNG seed for init and shuffling")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda: the whole epoch runs there, "
                   "data uploaded once before the clock starts")
    return p.parse_args()


def read_idx(path, magic, header_len):
    """Read one MNIST IDX file, raw or gzipped (sniffed, as spikeforge does), into a uint8 numpy array."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    got = int.from_bytes(raw[0:4], "big")
    if got != magic:
        raise ValueError(f"{path}: bad IDX magic {got:#x}, expected {magic:#x}")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(magic & 0xFF)]
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def load_split(data_dir, prefix):
    """Return (images float32 Nx1x28x28 in [0,1], labels int64 N) for 'train' or 't10k'."""
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte"), 0x803, 16)
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte"), 0x801, 8)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1).contiguous()
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def build_model():
    """The Liu small net, Glorot-uniform weights and zero bias as in Keras."""
    model = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, bias=False),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 12, kernel_size=5, bias=False),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(192, 10),
    )
    # torch's xavier fan_in/fan_out (in*k*k, out*k*k) match Keras' glorot_uniform.
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 3880, n_params
    return model


def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=0.0)


def train_step(model, opt, loss_fn, xb, tb):
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(xb), tb)
    loss.backward()
    opt.step()
    return loss


def train(model, x, onehot, epochs):
    """Run `epochs` shuffled epochs of minibatch SGD; return the last loss value."""
    opt = make_optimizer(model)
    loss_fn = nn.MSELoss()  # mean over batch * 10 elements, like Keras 'mse'
    n = x.shape[0]
    loss = None
    for _ in range(epochs):
        perm = torch.randperm(n, device=x.device)
        for start in range(0, n - BATCH + 1, BATCH):
            idx = perm[start:start + BATCH]
            loss = train_step(model, opt, loss_fn, x[idx], onehot[idx])
    return float(loss) if loss is not None else float("nan")


def warm_up(model, x, onehot):
    """A few steps on a throwaway copy of the model, so one-time costs (thread
    pool start-up, allocator growth, kernel selection) are not timed; spikeforge's
    timing likewise excludes primitive creation. The real model is untouched."""
    scratch = copy.deepcopy(model)
    opt = make_optimizer(scratch)
    loss_fn = nn.MSELoss()
    for i in range(WARMUP_STEPS):
        sl = slice(i * BATCH, (i + 1) * BATCH)
        train_step(scratch, opt, loss_fn, x[sl], onehot[sl])


@torch.no_grad()
def accuracy(model, x, y):
    correct = 0
    for start in range(0, x.shape[0], 1000):
        pred = model(x[start:start + 1000]).argmax(dim=1)
        correct += int((pred == y[start:start + 1000]).sum())
    return correct / x.shape[0]


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    onehot = nn.functional.one_hot(y_train, 10).float()

    dev = torch.device(args.device)
    torch.backends.cudnn.allow_tf32 = False  # plain fp32, as spikeforge's cuDNN and cuBLAS calls
    torch.backends.cuda.matmul.allow_tf32 = False
    x_train, onehot, x_test, y_test = (t.to(dev) for t in (x_train, onehot, x_test, y_test))
    model = build_model().to(dev)
    warm_up(model, x_train, onehot)

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sync()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    last_loss = train(model, x_train, onehot, args.epochs)
    sync()
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - cpu0

    acc = accuracy(model, x_test, y_test)
    print(f"torch {torch.__version__} device={dev} threads={torch.get_num_threads()} "
          f"epochs={args.epochs} batch={BATCH} last_loss={last_loss:.5f} "
          f"train_cpu_s={cpu_seconds:.3f}")
    print(f"pytorch_s={seconds:.3f} test_acc={acc:.4f}")


if __name__ == "__main__":
    main()
