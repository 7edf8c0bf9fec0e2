#!/usr/bin/env bash
# Trains each experiment with seeds 1..N and prints test accuracy as mean ± sample standard deviation
# (with min–max) in a markdown table, also written to OUT/seeds.md. Issue targets quote mean and spread
# of 3 seeds. Runs already finished in OUT are reused.
#   scripts/seeds.sh [--seeds N] [--out DIR] experiments/a.yaml [experiments/b.yaml ...]
set -euo pipefail
SEEDS=3
OUT=runs/seeds
configs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds) SEEDS="${2:?--seeds needs a value}"; shift 2 ;;
    --out) OUT="${2:?--out needs a value}"; shift 2 ;;
    -*) echo "seeds.sh: unknown option $1" >&2; exit 2 ;;
    *) configs+=("$(realpath "$1")"); shift ;;  # resolved before the cd below
  esac
done
[[ ${#configs[@]} -gt 0 ]] || { echo "usage: scripts/seeds.sh [--seeds N] [--out DIR] CONFIG.yaml..." >&2; exit 2; }
[[ "$SEEDS" =~ ^[1-9][0-9]*$ ]] || { echo "seeds.sh: --seeds must be a positive integer" >&2; exit 2; }
OUT="$(realpath -m "$OUT")"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh >/dev/null
scripts/build.sh >/dev/null
scripts/fetch_data.sh mnist >/dev/null
mkdir -p "$OUT"

table="| experiment | test accuracy, mean ± sd (min–max), $SEEDS seeds |
|---|---|"
for config in "${configs[@]}"; do
  name="$(basename "$config" .yaml)"
  key="$name-$(sha1sum <"$config" | cut -c1-8)"  # an edited config does not reuse old runs
  accs=()
  for ((seed = 1; seed <= SEEDS; seed++)); do
    log="$OUT/${key}_s$seed.log"
    # A finished run in OUT (its log ends with the test accuracy) is reused, so an interrupted sweep resumes.
    if ! grep -q '^test_accuracy=' "$log" 2>/dev/null; then
      build/bin/spikeforge train "$config" --set "seed=$seed" --out "$OUT/${key}_s$seed" >"$log" 2>&1 ||
        { echo "seeds.sh: $name seed $seed failed, see $log" >&2; exit 1; }
    fi
    accs+=("$(sed -n 's/^test_accuracy=\([0-9.]*\).*/\1/p' "$log")")
  done
  row="$(printf '%s\n' "${accs[@]}" | awk '{ a[NR] = 100 * $1; s += a[NR] } END {
    m = s / NR; for (i = 1; i <= NR; i++) { v += (a[i] - m) ^ 2; lo = (i == 1 || a[i] < lo) ? a[i] : lo; hi = (i == 1 || a[i] > hi) ? a[i] : hi }
    sd = (NR > 1) ? sqrt(v / (NR - 1)) : 0
    printf "%.2f ± %.2f %% (%.2f–%.2f)", m, sd, lo, hi }')"
  table+="
| $name | $row |"
done
echo "$table" | tee "$OUT/seeds.md"
