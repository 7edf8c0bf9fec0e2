#!/usr/bin/env bash
# Side-by-side speed benchmark: spikeforge vs PyTorch, MNIST "Liu small net",
# same recipe (see bench/pytorch_liu_mnist.py), 2 threads each.
#
# Usage: bench/train_vs_pytorch.sh [--epochs N] [--repeat R]    (defaults 1, 3)
#
# Both sides time only their training loop (no data loading, no one-time
# set-up). Each side runs R times, interleaved, and its fastest run counts:
# on a shared 2-core machine the minimum is the least noisy estimate. The
# last line printed is:
#   spikeforge_s=<x> pytorch_s=<y> speedup=<y/x>
set -euo pipefail

EPOCHS=1
REPEAT=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) EPOCHS="${2:?--epochs needs a value}"; shift 2 ;;
    --epochs=*) EPOCHS="${1#*=}"; shift ;;
    --repeat) REPEAT="${2:?--repeat needs a value}"; shift 2 ;;
    --repeat=*) REPEAT="${1#*=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ "$EPOCHS" =~ ^[1-9][0-9]*$ ]] || { echo "--epochs must be a positive integer" >&2; exit 2; }
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || { echo "--repeat must be a positive integer" >&2; exit 2; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=/usr/bin/python3   # Debian's interpreter: the one that sees python3-torch
SUDO=""
if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi

# (a) the peer: PyTorch + numpy from Debian, and the pthread OpenBLAS so that
#     torch's matmuls do not fall back to the reference BLAS (peer at its best).
need_pkgs=()
if ! "$PY" -c 'import torch, numpy' >/dev/null 2>&1; then
  need_pkgs+=(python3-torch python3-numpy)
fi
if ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  need_pkgs+=(libopenblas0-pthread)
fi
if [[ ${#need_pkgs[@]} -gt 0 ]]; then
  echo "== installing ${need_pkgs[*]}" >&2
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_pkgs[@]}"
fi

# (b) spikeforge: its dependencies and an up-to-date build (both steps are idempotent and incremental)
scripts/setup.sh
scripts/build.sh

# (c) data (idempotent)
scripts/fetch_data.sh mnist

tmpdir="$(mktemp -d)"
trap 'rm -rf "$tmpdir"' EXIT

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }
sf_s="" pt_s=""
for ((rep = 1; rep <= REPEAT; rep++)); do
  # (d) spikeforge
  echo "== run $rep/$REPEAT spikeforge: $EPOCHS epoch(s), 2 threads" >&2
  OMP_NUM_THREADS=2 build/bin/spikeforge train experiments/mnist_relu.yaml \
    --set "train.epochs=$EPOCHS" --set train.loss=mse --set train.optimizer.lr=0.1 --set train.optimizer.decay=0 \
    --set threads=2 \
    --force --out "$tmpdir/sf" >&2
  sf_vals="$("$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(float(s["train_seconds"]), float(s["test_accuracy"]))
' "$tmpdir/sf/summary.json")"
  read -r s_run sf_acc <<<"$sf_vals"
  sf_s="$(min "$s_run" "$sf_s")"

  # (e) PyTorch
  echo "== run $rep/$REPEAT pytorch: $EPOCHS epoch(s), 2 threads" >&2
  OMP_NUM_THREADS=2 "$PY" bench/pytorch_liu_mnist.py --threads 2 --epochs "$EPOCHS" >"$tmpdir/pt.log"
  pt_line="$(tail -n 1 "$tmpdir/pt.log")"
  p_run="$(sed -n 's/.*pytorch_s=\([0-9.eE+-]*\).*/\1/p' <<<"$pt_line")"
  pt_acc="$(sed -n 's/.*test_acc=\([0-9.eE+-]*\).*/\1/p' <<<"$pt_line")"
  if [[ -z "$p_run" || -z "$pt_acc" ]]; then
    echo "could not parse PyTorch output: $pt_line" >&2
    exit 1
  fi
  echo "   spikeforge ${s_run}s  pytorch ${p_run}s" >&2
  pt_s="$(min "$p_run" "$pt_s")"
done

# (f) report
echo "test_accuracy: spikeforge=$sf_acc pytorch=$pt_acc"
awk -v x="$sf_s" -v y="$pt_s" \
  'BEGIN { printf "spikeforge_s=%.3f pytorch_s=%.3f speedup=%.2f\n", x, y, y / x }'
