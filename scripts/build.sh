#!/usr/bin/env bash
# Configures and builds spikeforge into build/ (Release). Extra arguments go to cmake's configure step, e.g.
# scripts/build.sh -DSPIKEFORGE_SANITIZE=ON; they stay in the cache for later runs. Incremental: a second run
# rebuilds only changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${SPIKEFORGE_BUILD_DIR:-build}"
# Configure on every run: with a cache it takes about a second, and a configure that failed last time (which
# leaves a CMakeCache.txt but no Makefile) is retried instead of skipped. CMAKE_BUILD_TYPE is set only on the
# first configure so that a later -DCMAKE_BUILD_TYPE=... stays.
config=()
[[ -f "$BUILD_DIR/CMakeCache.txt" ]] || config=(-DCMAKE_BUILD_TYPE=Release)
cmake -S . -B "$BUILD_DIR" "${config[@]}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "build.sh: built $BUILD_DIR/bin/spikeforge"
