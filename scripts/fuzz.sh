#!/usr/bin/env bash
# Fuzzes every reader: builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) into build-fuzz/
# and runs each for SECONDS (default 60), printing one line per target. Exits 1 if any target crashed; its
# reproducer is left in build-fuzz/fuzz-findings/<target>/ (replay: build-fuzz/bin/fuzz_<target> FILE).
# Inputs that reach new code accumulate in build-fuzz/fuzz-corpus/<target>/, so later runs start from them;
# the committed seeds are tests/fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-60}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2; }
BUILD_DIR="${SPIKEFORGE_FUZZ_BUILD_DIR:-build-fuzz}"
mkdir -p "$BUILD_DIR"
# -O1 -g without NDEBUG: asserts stay on and reports have line numbers.
if ! CC=clang CXX=clang++ SPIKEFORGE_BUILD_DIR="$BUILD_DIR" scripts/build.sh -DSPIKEFORGE_FUZZ=ON \
    -DSPIKEFORGE_BUILD_TESTS=OFF -DSPIKEFORGE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" >"$BUILD_DIR/fuzz-build.log" 2>&1; then
  tail -n 30 "$BUILD_DIR/fuzz-build.log" >&2
  echo "fuzz: build failed (log: $BUILD_DIR/fuzz-build.log)" >&2
  exit 1
fi

failed=0
for src in tests/fuzz/*.cpp; do
  name="$(basename "$src" .cpp)"
  corpus="$BUILD_DIR/fuzz-corpus/$name" findings="$BUILD_DIR/fuzz-findings/$name" log="$BUILD_DIR/fuzz-logs/$name.log"
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/")
  [[ -f "tests/fuzz/$name.dict" ]] && args+=(-dict="tests/fuzz/$name.dict")
  dirs=("$corpus")
  [[ -d "tests/fuzz/corpus/$name" ]] && dirs+=("tests/fuzz/corpus/$name")
  if "$BUILD_DIR/bin/fuzz_$name" "${args[@]}" "${dirs[@]}" >"$log" 2>&1; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    echo "fuzz: $name $seconds s, ${runs:-?} runs, no crash"
  else
    runs="$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')"
    what="$(grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer)|runtime error|fuzz finding' "$log" || true)"
    echo "fuzz: $name CRASHED after ${runs:-?} runs: ${what:-see the log} (log: $log; input: $findings/$(ls -t "$findings" | head -n 1))"
    failed=1
  fi
done
exit "$failed"
