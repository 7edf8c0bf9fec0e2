#!/usr/bin/env bash
# The whole path in one command: install dependencies, build, fetch MNIST, train the default experiment
# (Noisy Softplus, Liu's small ConvNet) and evaluate the checkpoint. Idempotent apart from retraining.
# Extra arguments go to `spikeforge train`, e.g. scripts/quickstart.sh --set train.epochs=2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/build.sh
scripts/fetch_data.sh mnist
EXPERIMENT=experiments/mnist_noisy_softplus.yaml
OUT=runs/mnist_noisy_softplus
build/bin/spikeforge train "$EXPERIMENT" --out "$OUT" "$@"
build/bin/spikeforge evaluate "$OUT/model.sfm"
