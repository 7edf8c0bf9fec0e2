#!/usr/bin/env bash
# LDR sweep: trains experiments/mnist_ldr.yaml with 3, 4 and 5-bit log quantisation, weights only and
# weights + activations, beside the float net (mnist_relu.yaml), and prints the test accuracies as a
# markdown table (also written to OUT/table.md).
#   scripts/ldr_sweep.sh [--epochs N] [--out DIR]      (defaults: 20, runs/ldr_sweep)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
EPOCHS=20
OUT=runs/ldr_sweep
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) EPOCHS="${2:?--epochs needs a value}"; shift 2 ;;
    --out) OUT="${2:?--out needs a value}"; shift 2 ;;
    *) echo "ldr_sweep.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh >/dev/null
scripts/build.sh >/dev/null
scripts/fetch_data.sh mnist >/dev/null

accuracy() {  # run NAME CONFIG [--set ...] → prints the test accuracy in %
  local name="$1" config="$2"
  shift 2
  build/bin/spikeforge train "$config" --set "train.epochs=$EPOCHS" "$@" --force --out "$OUT/$name" >"$OUT/$name.log" 2>&1 ||
    { echo "ldr_sweep.sh: $name failed, see $OUT/$name.log" >&2; exit 1; }
  sed -n 's/^test_accuracy=\([0-9.]*\).*/\1/p' "$OUT/$name.log" | awk '{ printf "%.2f", 100 * $1 }'
}

mkdir -p "$OUT"
float=$(accuracy float experiments/mnist_relu.yaml)
table="| bits | weights only | weights + activations |
|---|---|---|"
for bits in 3 4 5; do
  w=$(accuracy "w${bits}" experiments/mnist_ldr.yaml --set "model.ldr.weights.bits=$bits" \
        --set model.ldr.activations=null)
  wa=$(accuracy "wa${bits}" experiments/mnist_ldr.yaml --set "model.ldr.weights.bits=$bits" \
        --set "model.ldr.activations.bits=$bits")
  table+="
| $bits | $w % | $wa % |"
done
table+="
| float | $float % | $float % |"
echo "$table" | tee "$OUT/table.md"
