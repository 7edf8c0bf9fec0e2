#!/usr/bin/env bash
# Streams an image folder of IMAGES (default 2048) generated 256×320 JPEGs through the DataLoader at batch 64 with
# WORKERS (default 2) decode threads, ImageNet's training transforms then its evaluation ones, and prints
# images/s and the peak RSS (bench/imagefolder_rss.cpp). The folder is generated once into
# ${SPIKEFORGE_BENCH_DIR:-/tmp/spikeforge_imagefolder_bench} and reused.
#   bench/imagefolder_rss.sh [IMAGES] [WORKERS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${SPIKEFORGE_BUILD_DIR:-build}"
[[ -f "$BUILD_DIR/CMakeCache.txt" ]] || cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target spikeforge_imagefolder_rss >/dev/null
exec "$BUILD_DIR/bin/spikeforge_imagefolder_rss" --dir "${SPIKEFORGE_BENCH_DIR:-/tmp/spikeforge_imagefolder_bench}" \
  --images "${1:-2048}" --workers "${2:-2}" --batch 64
