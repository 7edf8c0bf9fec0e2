#!/usr/bin/env bash
# The whole path in one command: install dependencies, build, fetch MNIST, train the default experiment
# (Noisy Softplus, Liu's small ConvNet), evaluate the checkpoint, then convert it to a spiking network and
# simulate it on the CPU over the 10k test images. Idempotent apart from retraining.
# Extra arguments go to `spikeforge train`, e.g. scripts/quickstart.sh --set train.epochs=2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/build.sh
scripts/fetch_data.sh mnist
EXPERIMENT=experiments/mnist_noisy_softplus.yaml
OUT=runs/mnist_noisy_softplus
build/bin/spikeforge train "$EXPERIMENT" --force --out "$OUT" "$@"
build/bin/spikeforge evaluate "$OUT/model.sfm"
# Robust normalisation (Rueckauer 2017), reset by subtraction, analog input: the conversion that reaches the
# ANN's accuracy in the fewest steps. README.md lists the others (Liu's LIF mapping, data-norm IF, spike-norm).
build/bin/spikeforge convert "$OUT/model.sfm" --backend cpu --norm robust --neuron if_subtract --input current \
  --steps 100 --out "$OUT/snn"
