#!/usr/bin/env bash
# Builds what scripts/gpu_check.sh runs on a GPU machine, here on a Debian machine with CUDA (the GPU machine
# has no Debian packages to build with; DESIGN.md §4 of the project notes): build-gpu/ with CUDA on, a
# portable -march (the CPUs differ), the binaries, and build-gpu/lib with the non-CUDA shared libraries they
# need (oneDNN, yaml-cpp, ...). CUDA's own libraries come from the GPU machine (its PyTorch wheels).
#   scripts/gpu_bundle.sh        then carry build-gpu to the GPU machine and run scripts/gpu_check.sh there
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
B="${SPIKEFORGE_GPU_BUILD_DIR:-build-gpu}"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DSPIKEFORGE_CUDA=ON -DSPIKEFORGE_MARCH=x86-64-v3 \
  -DSPIKEFORGE_BUILD_BENCH=ON >/dev/null
cmake --build "$B" -j"$(nproc)" --target spikeforge spikeforge_tests spikeforge_bench
mkdir -p "$B/lib"
# Everything the binaries load except the C library itself and what CUDA and the driver provide there.
ldd "$B/bin/spikeforge" "$B/bin/spikeforge_tests" "$B/bin/spikeforge_bench" | awk '/=> \// {print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnccl)\.so' |
  xargs -r cp -L -t "$B/lib"
echo "gpu_bundle: $B ($(du -sh "$B/bin" | cut -f1) binaries, $(du -sh "$B/lib" | cut -f1) libraries)"
