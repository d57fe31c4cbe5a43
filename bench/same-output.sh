#!/usr/bin/env bash
# bench/same-output.sh OLD_BINARY NEW_BINARY
#
# Runs two pgconn binaries over every committed fixture in every report mode and
# lists the runs whose output (stdout, stderr and exit status) differs. For
# refactors that must not change a byte: build the old commit, copy its binary
# away, build the new one, run this.
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
old=$(realpath "$1") new=$(realpath "$2")
# JSON reports carry generated_at: the wall clock, unless this fixes it.
export SOURCE_DATE_EPOCH=1800000000
cd "$(dirname "$0")/../fixtures"
mapfile -t files < <(find . -type f \( -name '*.log' -o -name '*.csv' -o -name '*.json' \
  -o -name '*.jsonl' -o -name '*.gz' -o -name '*.bz2' -o -name '*.xz' -o -name '*.zst' \) \
  ! -name '*expected*' ! -name '*.names.json' | sort)
modes=("" "--json" "--history" "--history --json" "--history --bucket 10s" "--failures"
  "--failures --json" "--sessions" "--sessions --json" "--watch" "--watch --json"
  "--top 2 --by user,host")
runs=0 differ=0
for f in "${files[@]}"; do
  for m in "${modes[@]}"; do
    runs=$((runs + 1))
    # shellcheck disable=SC2086 # a mode is several words
    a=$(TZ=UTC "$old" --color never $m "$f" 2>&1; echo "exit $?")
    # shellcheck disable=SC2086
    b=$(TZ=UTC "$new" --color never $m "$f" 2>&1; echo "exit $?")
    if [[ $a != "$b" ]]; then
      differ=$((differ + 1))
      echo "differs: pgconn $m $f"
    fi
  done
done
echo "$runs runs over ${#files[@]} fixtures, $differ differ"
[[ $differ -eq 0 ]]
