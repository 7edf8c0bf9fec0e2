#!/usr/bin/env bash
# The project's test command (README, .ci/run): install dependencies, fetch MNIST, build, run the whole
# GoogleTest suite through ctest. Idempotent. Tests that need real MNIST find it in data/mnist.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/fetch_data.sh mnist
scripts/build.sh
cd "${SPIKEFORGE_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 900 "$@"
