#!/usr/bin/env bash
# Configures (once) and builds spikeforge into build/ (Release). Extra arguments go to cmake's configure
# step, e.g. scripts/build.sh -DSPIKEFORGE_SANITIZE=ON. Incremental: a second run rebuilds only changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${SPIKEFORGE_BUILD_DIR:-build}"
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" || $# -gt 0 ]]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "build.sh: built $BUILD_DIR/bin/spikeforge"
