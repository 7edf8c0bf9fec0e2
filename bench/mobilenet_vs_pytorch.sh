#!/usr/bin/env bash
# MobileNet v1 training speed, spikeforge vs PyTorch 1.13 (Debian), on the same 2 threads.
#
# Usage: bench/mobilenet_vs_pytorch.sh [--repeat R] [--no-224]     (default R = 3)
#
# Same net (models/mobilenet.h; bench/pytorch_mobilenet.py), 32x32x3 random images with CIFAR strides, batch
# 64, SGD momentum 0.9, softmax cross-entropy, BN in train mode; alpha 1.0 and 0.5. PyTorch runs in both
# layouts, channels_last (its faster one) and NCHW; spikeforge in its channels_last net, as `train.parallel:
# auto` runs it (op_parallel; batch_split's figure, a shard per thread whose batch norms exchange statistics,
# is printed beside it). Both compute batch norm's statistics over the whole batch. Runs are interleaved
# (spikeforge, spikeforge batch_split, PyTorch channels_last, PyTorch NCHW, repeat) and each side's median
# counts. Then a 224x224 case at batch 16 (forward and backward, one step type as above). The machine's fp32
# peak is oneDNN's sgemm 2048³ measured in the same run. Last lines:
#   alpha=<a> [size=224] spikeforge_ips=<x> pytorch_ips=<y> speedup=<x/y> (...; batch_split <z>)
#   (y: the faster PyTorch layout)
# Measure on a quiet machine: a loaded one slows PyTorch's OpenMP far more than it slows us.
set -euo pipefail

REPEAT=3
RUN_224=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repeat) REPEAT="${2:?--repeat needs a value}"; shift 2 ;;
    --repeat=*) REPEAT="${1#*=}"; shift ;;
    --no-224) RUN_224=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || { echo "--repeat must be a positive integer" >&2; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=/usr/bin/python3  # Debian's interpreter: the one that sees python3-torch
SUDO=""
if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
need=()
"$PY" -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need+=(libopenblas0-pthread)  # torch's matmul at its best
if ((${#need[@]})); then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
scripts/setup.sh >/dev/null
scripts/build.sh >/dev/null

export OMP_NUM_THREADS=2
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
sf_ips() {  # ALPHA SIZE BATCH SPLIT → images/s and GFLOP/s of spikeforge's MobileNetTrain case (channels_last;
           # SPLIT 0: op_parallel, what train.parallel: auto picks for MobileNet; 1: batch_split)
  build/bin/spikeforge_bench --benchmark_filter="^MobileNetTrain/alpha:$1/size:$2/batch:$3/nhwc:1/split:$4/" \
    --benchmark_format=json 2>/dev/null | "$PY" -c '
import json, sys
b = [x for x in json.load(sys.stdin)["benchmarks"] if x.get("run_type") == "iteration"]
print(b[0]["images_per_s"], b[0]["GFLOPs"])'
}
pt_ips() {  # ALPHA SIZE BATCH LAYOUT
  "$PY" bench/pytorch_mobilenet.py --alpha "$1" --size "$2" --batch "$3" --layout "$4" --threads 2 \
    --steps "$([[ $2 -gt 32 ]] && echo 3 || echo 20)" | sed -n 's/^pytorch_ips=\([0-9.]*\).*/\1/p'
}

peak=$(build/bin/spikeforge_bench --benchmark_filter='^SgemmPeak' --benchmark_format=json 2>/dev/null |
  "$PY" -c 'import json, sys; print(json.load(sys.stdin)["benchmarks"][0]["GFLOPs"])')
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); oneDNN sgemm 2048³ on 2 threads: ${peak} GFLOP/s"

summary=()
cases=("50 0.5 32 64" "100 1.0 32 64")  # alpha 1.0 prints last
((RUN_224)) && cases+=("100 1.0 224 16")
for c in "${cases[@]}"; do
  read -r a100 alpha size batch <<<"$c"
  sf=() op=() cl=() nchw=() frac=()
  for ((r = 1; r <= REPEAT; r++)); do
    read -r ips gf < <(sf_ips "$a100" "$size" "$batch" 0)
    read -r op_ips _ < <(sf_ips "$a100" "$size" "$batch" 1)
    op+=("$op_ips")
    pk=$(awk -v g="$gf" -v p="$peak" 'BEGIN { printf "%.2f", g / p }')  # against this run's sgemm peak
    sf+=("$ips") frac+=("$pk")
    cl+=("$(pt_ips "$alpha" "$size" "$batch" channels_last)")
    nchw+=("$(pt_ips "$alpha" "$size" "$batch" nchw)")
    echo "  run $r/$REPEAT alpha=$alpha ${size}x${size} batch $batch: spikeforge ${ips} ips (${pk} of peak;" \
      "batch_split ${op_ips}), pytorch channels_last ${cl[-1]}, nchw ${nchw[-1]}" >&2
  done
  m_sf=$(printf '%s\n' "${sf[@]}" | median)
  m_cl=$(printf '%s\n' "${cl[@]}" | median)
  m_nchw=$(printf '%s\n' "${nchw[@]}" | median)
  m_frac=$(printf '%s\n' "${frac[@]}" | median)
  m_op=$(printf '%s\n' "${op[@]}" | median)
  best=$(awk -v a="$m_cl" -v b="$m_nchw" 'BEGIN { print (a > b) ? a : b }')
  line=$(awk -v a="$alpha" -v s="$m_sf" -v p="$best" -v cl="$m_cl" -v n="$m_nchw" -v f="$m_frac" -v sz="$size" -v o="$m_op" \
    'BEGIN { printf "alpha=%s size=%s spikeforge_ips=%.1f pytorch_ips=%.1f speedup=%.2f (pytorch channels_last %.1f, nchw %.1f; spikeforge at %.0f%% of sgemm peak, batch_split %.1f)", a, sz, s, p, s / p, cl, n, 100 * f, o }')
  summary+=("$line")
done
# The 32x32 lines last, in the documented form.
for l in "${summary[@]}"; do [[ $l == *"size=224"* ]] && echo "$l"; done
for l in "${summary[@]}"; do [[ $l == *"size=32 "* ]] && echo "$l" | sed 's/ size=32//'; done
