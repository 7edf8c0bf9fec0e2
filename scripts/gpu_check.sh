#!/usr/bin/env bash
# Everything that needs a GPU, in one go: the CUDA tests, then the GPU benchmarks, then one summary line
#   gpu_check: tests=<passed>/<total> mobilenet_speedup=... liu_speedup=... snn_10k_s=...
# It runs the bundle that scripts/gpu_bundle.sh builds (build-gpu/, carried to the GPU machine); without one it
# builds it first, which needs this repository's setup (scripts/setup.sh) and CUDA. Benchmarks not written yet
# print "not_measured" in their field.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
B="${SPIKEFORGE_GPU_BUILD_DIR:-build-gpu}"
[[ -x "$B/bin/spikeforge_tests" ]] || scripts/gpu_bundle.sh
# The bundle's libraries, then cuDNN / cuBLAS / cudart from the machine's PyTorch wheels (nvidia/*/lib), if any.
libs="$PWD/$B/lib"
if wheels=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null); then
  for d in "$wheels"/nvidia/*/lib; do libs+=":$d"; done
fi
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "gpu_check: no nvidia-smi"

xml="$(mktemp --suffix=.xml)"
# The GPU tests: the CUDA kernels, primitives and updates (not the CLI's no-GPU test, which skips on a GPU).
"$B/bin/spikeforge_tests" --gtest_filter='*Cuda*-CliTest.*' --gtest_output="xml:$xml" || true
tests=$(python3 - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("0/0 (the test binary wrote no report: it crashed)")
    sys.exit()
total = passed = skipped = 0
for c in root.iter("testcase"):
    total += 1
    if c.get("result") == "skipped" or c.find("skipped") is not None:
        skipped += 1
    elif c.find("failure") is None:
        passed += 1
print(f"{passed}/{total}" + (f" skipped={skipped}" if skipped else ""))
PY
)
rm -f "$xml"
echo "gpu_check: tests=$tests mobilenet_speedup=not_measured liu_speedup=not_measured snn_10k_s=not_measured"
