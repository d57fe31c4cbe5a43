#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time, from the committed seeds (fuzz/seeds/TARGET)
# in a scratch corpus, and prints executions per target. Fails on the first crash, leak, timeout
# or out-of-memory, leaving the input in fuzz/artifacts/TARGET/ (copy it to
# fuzz/regressions/TARGET/ with the fix: tests/fuzz_regressions.rs replays those).
#
#   fuzz/run.sh [SECONDS_PER_TARGET]    (default 8: about a minute for the seven targets)
#   FUZZ_TARGETS="stderr csvlog" fuzz/run.sh 60
#
# Needs cargo-fuzz (cargo install cargo-fuzz --locked) and nightly features: on a stable
# toolchain RUSTC_BOOTSTRAP=1 is set here.
set -euo pipefail
SECONDS_PER=${1:-8}
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
export RUSTC_BOOTSTRAP=1
TARGETS=(${FUZZ_TARGETS:-scan prefix stderr csvlog jsonlog syslog pipeline})
command -v cargo-fuzz >/dev/null || { echo "fuzz/run.sh: cargo-fuzz is not installed" >&2; exit 2; }
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/pgconn-fuzz.XXXXXX")
trap 'rm -rf -- "$SCRATCH"' EXIT
if ! cargo fuzz build -O >"$SCRATCH/build.log" 2>&1; then
  cat "$SCRATCH/build.log" >&2
  exit 2
fi
total=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$SCRATCH/$t"
  cp fuzz/seeds/"$t"/* "$SCRATCH/$t/"
  log=$SCRATCH/$t.log
  if ! cargo fuzz run -O "$t" "$SCRATCH/$t" -- -max_total_time="$SECONDS_PER" -max_len=65536 \
       -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz/run.sh: $t FAILED; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  printf 'fuzz %-9s %4ss  %9s executions  coverage %s\n' "$t" "$SECONDS_PER" "${runs:-?}" "${cov:-?}"
  total=$((total + ${runs:-0}))
done
echo "fuzz: ${#TARGETS[@]} targets, $total executions, no crash"
