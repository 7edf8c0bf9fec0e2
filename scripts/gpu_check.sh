#!/usr/bin/env bash
# Everything that needs a GPU, in one go: the CUDA tests, then the GPU benchmarks, then one summary line
#   gpu_check: tests=<passed>/<total> mobilenet_speedup=... liu_speedup=... snn_10k_s=...
# It runs the bundle that scripts/gpu_bundle.sh builds (build-gpu/, carried to the GPU machine); without one it
# builds it first, which needs this repository's setup (scripts/setup.sh) and CUDA. A benchmark that did not
# run prints "not_measured" in its field. snn_10k_s is the faster of the GPU simulator's dense and event runs
# (since 2026-12-07; before, dense only).
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

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# The GPU tests: the CUDA kernels, primitives and updates (not the CLI's no-GPU test, which skips on a GPU).
"$B/bin/spikeforge_tests" --gtest_filter='*Cuda*-CliTest.*' --gtest_brief=1 --gtest_output="xml:$tmp/tests.xml" || true
tests=$(python3 - "$tmp/tests.xml" <<'PY'
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

# The Liu small net: one MNIST epoch of bench/pytorch_liu_mnist.py's recipe (MSE, SGD lr 0.1 momentum 0.9,
# batch 50), spikeforge on the GPU against PyTorch on the GPU, the best of $REPEAT runs each (both time the
# training loop alone). MNIST comes from data/mnist, or SPIKEFORGE_GPU_DATA (the IDX files, raw or gzipped).
data="${SPIKEFORGE_GPU_DATA:-data/mnist}"
REPEAT="${SPIKEFORGE_GPU_REPEAT:-3}"
json_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
best() { python3 -c 'import sys; v = [float(a) for a in sys.argv[1:] if a]; print(min(v) if v else "")' "$@"; }
best_max() { python3 -c 'import sys; v = [float(a) for a in sys.argv[1:] if a]; print(max(v) if v else "")' "$@"; }
sf_runs=() pt_runs=()
for ((r = 1; r <= REPEAT; r++)); do
  if timeout 300 "$B/bin/spikeforge" train experiments/mnist_relu.yaml --set device=cuda --set train.epochs=1 \
    --set train.loss=mse --set train.optimizer.lr=0.1 --set train.optimizer.decay=0 --set "dataset.path=$data" \
    --force --out "$tmp/liu" >"$tmp/liu.log" 2>&1; then
    sf_runs+=("$(json_field "$tmp/liu/summary.json" train_seconds || true)")
    echo "gpu_check: liu spikeforge run $r: ${sf_runs[-1]} s, test accuracy $(json_field "$tmp/liu/summary.json" test_accuracy || true)"
  else
    echo "gpu_check: liu spikeforge run $r failed:"; tail -n 5 "$tmp/liu.log"
  fi
  if timeout 300 python3 bench/pytorch_liu_mnist.py --device cuda --data "$data" >"$tmp/pt.log" 2>&1; then
    pt_runs+=("$(sed -n 's/.*pytorch_s=\([0-9.eE+-]*\).*/\1/p' "$tmp/pt.log")")
    echo "gpu_check: liu pytorch run $r: $(tail -n 1 "$tmp/pt.log")"
  else
    echo "gpu_check: liu pytorch run $r failed:"; tail -n 3 "$tmp/pt.log"
  fi
done
sf_s=$(best "${sf_runs[@]}") pt_s=$(best "${pt_runs[@]}")
liu=not_measured
if [[ -n $sf_s && -n $pt_s ]]; then liu=$(python3 -c "print(f'{$pt_s / $sf_s:.2f}')"); fi
echo "gpu_check: liu epoch spikeforge_s=${sf_s:-none} pytorch_s=${pt_s:-none}"
# What the recorded step (train.cuda_graph, on above) saves: the same epoch kernel by kernel, once. A step
# that could not be recorded says so in the log.
grep -h "could not be recorded" "$tmp/liu.log" || true
if timeout 300 "$B/bin/spikeforge" train experiments/mnist_relu.yaml --set device=cuda --set train.epochs=1 \
  --set train.loss=mse --set train.optimizer.lr=0.1 --set train.optimizer.decay=0 --set "dataset.path=$data" \
  --set train.cuda_graph=false --force --out "$tmp/liu_eager" >"$tmp/liu_eager.log" 2>&1; then
  echo "gpu_check: liu spikeforge kernel by kernel (train.cuda_graph false): $(json_field "$tmp/liu_eager/summary.json" train_seconds || true) s"
fi

# MobileNet v1 alpha 1.0 on 32x32, batch 128, plain fp32 on both sides: spikeforge's MobileNetTrainCuda
# (bench/bench_train_cuda.cpp; random images in memory) in both layouts against PyTorch in both, the faster
# layout of each side counting.
mobilenet=not_measured sf_ips="" pt_ips=""
if [[ -x $B/bin/spikeforge_bench ]]; then
  timeout 300 "$B/bin/spikeforge_bench" --benchmark_filter='^MobileNetTrainCuda/' --benchmark_format=csv \
    >"$tmp/mn.csv" 2>"$tmp/mn.err" || { echo "gpu_check: MobileNetTrainCuda failed:"; tail -n 5 "$tmp/mn.err"; }
  grep MobileNetTrainCuda "$tmp/mn.csv" | sed 's/^/gpu_check: /' || true
  sf_ips=$(python3 - "$tmp/mn.csv" <<'PY'
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if r]
head = next((r for r in rows if r[0] == "name"), None)
if head and "images_per_s" in head:
    k = head.index("images_per_s")
    v = [float(r[k]) for r in rows[rows.index(head) + 1:] if len(r) > k and r[k]]
    print(max(v) if v else "")
PY
)
fi
for layout in nchw channels_last; do
  if out=$(timeout 300 python3 bench/pytorch_mobilenet.py --device cuda --alpha 1.0 --size 32 --batch 128 \
    --layout "$layout" --steps 40 --warmup 5 2>&1); then
    echo "gpu_check: mobilenet pytorch: $(tail -n 1 <<<"$out")"
    v=$(sed -n 's/.*pytorch_ips=\([0-9.]*\).*/\1/p' <<<"$out")
    if [[ -n $v ]]; then pt_ips=$(best_max "$v" "$pt_ips"); fi
  else
    echo "gpu_check: mobilenet pytorch ($layout) failed:"; tail -n 3 <<<"$out"
  fi
done
if [[ -n $sf_ips && -n $pt_ips ]]; then mobilenet=$(python3 -c "print(f'{$sf_ips / $pt_ips:.2f}')"); fi
echo "gpu_check: mobilenet images/s spikeforge=${sf_ips:-none} pytorch=${pt_ips:-none}"

# The GPU SNN simulator: the Liu net just trained (its last run's checkpoint) with Liu's LIF mapping, the 10k
# test images x 1000 steps, Poisson input, with dense (cuDNN/cuBLAS) and event (spike list + atomic scatter)
# propagation; the CPU simulator on this machine's cores beside it (the same network; other Poisson streams, so
# the accuracies agree within sampling noise, not exactly). snn_10k_s is the faster GPU kernel's time.
snn=not_measured
if [[ -f $tmp/liu/model.sfm ]]; then
  for run in cuda:dense cuda:event cpu:event; do
    backend=${run%:*} propagation=${run#*:} out="$tmp/snn-${run/:/-}"
    limit=300; [[ $backend == cuda ]] && limit=150  # a slow GPU kernel is cut off rather than eat the budget
    if timeout "$limit" "$B/bin/spikeforge" convert "$tmp/liu/model.sfm" --backend "$backend" --neuron lif --norm none \
      --steps 1000 --propagation "$propagation" --data-dir "$data" --out "$out" >"$out.log" 2>&1; then
      echo "gpu_check: snn $backend $propagation: $(json_field "$out/summary.json" seconds) s, accuracy" \
        "$(json_field "$out/summary.json" snn_accuracy) (ANN $(json_field "$out/summary.json" ann_accuracy))"
    else
      echo "gpu_check: snn $backend $propagation failed:"; tail -n 5 "$out.log"
    fi
  done
  snn=$(python3 - "$tmp" <<'PY'
import json, sys
times = []
for kind in ("dense", "event"):
    try:
        times.append(float(json.load(open(f"{sys.argv[1]}/snn-cuda-{kind}/summary.json"))["seconds"]))
    except (OSError, KeyError, ValueError):
        pass
print(f"{min(times):.2f}" if times else "not_measured")
PY
)
fi

echo "gpu_check: tests=$tests mobilenet_speedup=$mobilenet liu_speedup=$liu snn_10k_s=$snn"
