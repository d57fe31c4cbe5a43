#!/usr/bin/env bash
# Throughput, memory and start-up time of pgconn on the files of bench/make-logs.sh, against
# grep -c and rg -c on the same files in the same rounds (each command once per round, in turn),
# plus one pgBadger run on mixed.log.
#
#   bench/run.sh
#
# Environment:
#   PGCONN_BENCH_DIR        the data dir of make-logs.sh (default /tmp/pgconn-bench); make-logs.sh
#                           runs first if a file is missing (PGCONN_BENCH_SIZE_MB etc. pass through)
#   PGCONN                  the binary (default: target/release/pgconn, built if missing)
#   PGCONN_BENCH_RUNS       runs of each command per file (default 10, after a warm-up round)
#   PGCONN_BENCH_BADGER_MB  what pgBadger reads: all of mixed.log (default, all; ~7 minutes at
#                           its 2-3 MB/s), a slice of that many MB, or 0 to skip it
#
# Needs hyperfine, ripgrep, time (/usr/bin/time) and pgbadger: as root, missing ones are installed
# with apt-get.  The report goes to stdout and to DIR/run-YYYYmmdd-HHMMSS.txt; progress and
# hyperfine's own output go to stderr.
set -euo pipefail

log() { printf '[run] %s\n' "$*" >&2; }
die() { printf '[run] ERROR: %s\n' "$*" >&2; exit 1; }
[[ $# -eq 0 ]] || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(dirname -- "$SCRIPT_DIR")
DIR=${PGCONN_BENCH_DIR:-/tmp/pgconn-bench}
PGCONN=${PGCONN:-$REPO/target/release/pgconn}
RUNS=${PGCONN_BENCH_RUNS:-10}
BADGER_MB=${PGCONN_BENCH_BADGER_MB:-all}
[[ $BADGER_MB == all || $BADGER_MB =~ ^[0-9]+$ ]] || die "PGCONN_BENCH_BADGER_MB: 'all' or a number of MB"
FILES=(light.log mixed.log heavy.log mixed.csv mixed.json)
PATTERN='connection authorized|disconnection:'
# Events as lines: every connection message pgconn tracks. Failed attempts are
# left out (a FATAL line is not always one); heavy.log, where events/s are measured, has none.
EVENTS='connection received|connection authenticated|connection authorized|connection ready|disconnection:'
START_TIME=$SECONDS

# ----------------------------------------------------------------------------------------------
# tools
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v rg >/dev/null || need+=(ripgrep)
[[ -x /usr/bin/time ]] || need+=(time)
if [[ $BADGER_MB != 0 ]] && ! command -v pgbadger >/dev/null; then need+=(pgbadger); fi
if ((${#need[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing: ${need[*]} (apt-get install -y ${need[*]})"
  log "installing ${need[*]}"
  apt-get install -y "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1 && apt-get install -y "${need[@]}" >/dev/null; } \
    || die "apt-get install -y ${need[*]} failed"
fi
command -v python3 >/dev/null || die "python3 is required (the table)"
if [[ ! -x $PGCONN ]]; then
  log "no $PGCONN: cargo build --release"
  (cd "$REPO" && cargo build --release) >&2 || die "cargo build --release failed"
fi

# ----------------------------------------------------------------------------------------------
# inputs
missing=0
for f in "${FILES[@]}"; do [[ -s $DIR/$f ]] || missing=1; done
if ((missing)); then
  log "benchmark files missing in $DIR: running bench/make-logs.sh"
  PGCONN_BENCH_DIR=$DIR "$SCRIPT_DIR/make-logs.sh" --reuse >&2
fi
DIR=$(cd -- "$DIR" && pwd -P)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pgconn-run.XXXXXX")
SAMPLER=
trap '[[ -z $SAMPLER ]] || kill "$SAMPLER" 2>/dev/null; rm -rf -- "$TMP"' EXIT
trap 'exit 130' INT TERM
# a private copy of the binary: a rebuild in the repo during the run cannot swap it
PGCONN_SRC=$PGCONN
cp -- "$PGCONN_SRC" "$TMP/pgconn"
PGCONN=$TMP/pgconn
REPORT=$DIR/run-$(date -u +%Y%m%d-%H%M%S).txt
exec > >(tee -- "$REPORT")

q() { printf '%q' "$1"; }
mb() { awk -v b="$(stat -c %s -- "$1")" 'BEGIN { printf "%.1f", b / 1e6 }'; }
# peak RSS in kB of: pgconn ARGS... (stdin from $STDIN, default /dev/null)
peak_rss() {
  local out=$TMP/time.out
  /usr/bin/time -v -o "$out" "$PGCONN" "$@" <"${STDIN:-/dev/null}" >/dev/null 2>&1 || true
  awk -F': ' '/Maximum resident set size/ { print $2 }' "$out"
}
# whole lines of FILE up to about N bytes
head_bytes() { head -c "$2" -- "$1" | head -n -1; }

# ----------------------------------------------------------------------------------------------
echo "pgconn benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr)"
echo "pgconn:  $PGCONN_SRC ($("$PGCONN" --version 2>&1 | head -1), sha256 $(sha256sum <"$PGCONN" | cut -c1-12), built $(date -u -r "$PGCONN_SRC" '+%Y-%m-%d %H:%M UTC'), git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted src/ changes'))"
echo "tools:   $(hyperfine --version), $(rg --version | head -1), $(grep --version | head -1)$( [[ $BADGER_MB != 0 ]] && echo ", $(pgbadger --version 2>/dev/null | head -1)")"
busy() { # other processes using CPU right now (a build, tests): they skew every figure
  ps -eo pcpu=,pid=,comm= --sort=-pcpu | awk -v me=$$ '$1 >= 20 && $3 !~ /^(ps|awk)$/ { printf "%s%s(%d) %s%%", n++ ? ", " : "", $3, $2, $1 }'
}
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) at start$(b=$(busy); [[ -z $b ]] || echo "; busy now: $b")"
# every 2 s, other processes using >= 20 % CPU (ps's figure: CPU time / lifetime)
OURS='pgconn|grep|rg|hyperfine|pgbadger|perl|time|head|cat|sh|bash|python3|ps|awk|tee|sleep|run.sh'
while :; do
  ps -eo pcpu=,comm= | awk -v ours="^($OURS)\$" '$1 >= 20 && $2 !~ ours { print $2 }'
  sleep 2
done >"$TMP/busy.txt" 2>/dev/null &
SAMPLER=$!
echo "data:    $DIR (per file: a warm-up round, then $RUNS rounds of its five commands, alternating)"
echo

# ----------------------------------------------------------------------------------------------
# throughput: the five commands on each file, alternating. hyperfine runs one command's runs back
# to back, so a slow spell of this shared machine (its speed drifts by 10-40 % within minutes)
# fell on one command and skewed the ratios; here each round is one hyperfine call that runs each
# command once, in turn, and the rounds are merged into one hyperfine result per command.
: >"$TMP/files.txt"
for f in "${FILES[@]}"; do
  F=$DIR/$f
  log "hyperfine on $f ($(mb "$F") MB): a warm-up round, then $RUNS rounds of the five commands"
  for ((round = 0; round <= RUNS; round++)); do
    # grep and rg write their count into a pipe: with output to /dev/null GNU grep stops at the
    # first match
    hyperfine --style none --runs 1 --export-json "$TMP/hf-$f-$round.json" \
      -n 'pgconn FILE' "$(q "$PGCONN") $(q "$F") > /dev/null" \
      -n 'pgconn --json FILE' "$(q "$PGCONN") --json $(q "$F") > /dev/null" \
      -n 'pgconn < FILE' "$(q "$PGCONN") < $(q "$F") > /dev/null" \
      -n 'grep -c' "LC_ALL=C grep -c -E '$PATTERN' $(q "$F") | cat" \
      -n 'rg -c' "rg -c '$PATTERN' $(q "$F") | cat" >&2
  done
  # round 0 was the warm-up (the file into the page cache)
  kept=()
  for ((round = 1; round <= RUNS; round++)); do kept+=("$TMP/hf-$f-$round.json"); done
  python3 - "$TMP/hf-$f.json" "${kept[@]}" <<'PY'
import json, statistics, sys
rounds = [json.load(open(p))["results"] for p in sys.argv[2:]]
merged = []
for i, first in enumerate(rounds[0]):
    runs = [r[i] for r in rounds]
    assert all(r["command"] == first["command"] for r in runs)
    times = [t for r in runs for t in r["times"]]
    merged.append({
        "command": first["command"],
        "mean": statistics.mean(times),
        "stddev": statistics.stdev(times) if len(times) > 1 else None,
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "user": statistics.mean(r["user"] for r in runs),
        "system": statistics.mean(r["system"] for r in runs),
        "times": times,
    })
json.dump({"results": merged}, open(sys.argv[1], "w"))
PY
  conn=$(LC_ALL=C grep -c -E "$PATTERN" -- "$F" || true)
  rgc=$(rg -c "$PATTERN" -- "$F" || echo 0)
  [[ $conn == "$rgc" ]] || log "WARNING: $f: grep -c says $conn, rg -c says $rgc"
  printf '%s\t%s\t%s\t%s\n' "$f" "$(stat -c %s -- "$F")" "$conn" "$TMP/hf-$f.json" >>"$TMP/files.txt"
done

python3 - "$TMP/files.txt" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print(f"{'file':<11} {'MB':>7}  {'command':<19} {'mean s':>8} {'± s':>6} {'MB/s':>8} {'× rg -c':>8}")
for name, size, conn, path in rows:
    res = json.load(open(path))["results"]
    mb = int(size) / 1e6
    rg = next(r["mean"] for r in res if r["command"] == "rg -c")
    for r in res:
        print(f"{name:<11} {mb:>7.1f}  {r['command']:<19} {r['mean']:>8.3f} {r['stddev'] or 0:>6.3f} "
              f"{mb / r['mean']:>8.0f} {r['mean'] / rg:>8.2f}")
    print()
print("× rg -c: mean wall time / mean wall time of rg -c on the same file in the same rounds")
print("(> 1 = slower than rg -c). MB = 10^6 bytes.")
PY
echo

# events per second on heavy: event lines (all connection messages) / pgconn's time; and, as in
# earlier runs, only the lines of the rg -c pattern (authorized + disconnection)
if [[ " ${FILES[*]} " == *" heavy.log "* ]]; then
  rg -c "$EVENTS" -- "$DIR/heavy.log" >"$TMP/heavy-events.txt" || echo 0 >"$TMP/heavy-events.txt"
fi
python3 - "$TMP/files.txt" "$TMP/heavy-events.txt" <<'PY'
import json, sys
for name, size, conn, path in (l.rstrip("\n").split("\t") for l in open(sys.argv[1])):
    if name != "heavy.log":
        continue
    events = int(open(sys.argv[2]).read())
    conn = int(conn)
    res = json.load(open(path))["results"]
    print(f"heavy.log: {events:,} events (connection received, authenticated, authorized, ready and "
          f"disconnection lines),\n  of which {conn:,} connection authorized + "
          f"disconnection (the rg -c pattern)")
    for r in res:
        if r["command"].startswith("pgconn"):
            cpu = r["user"] + r["system"]
            print(f"  {r['command']:<19} {events / r['mean'] / 1e6:6.2f} M events/s "
                  f"({conn / r['mean'] / 1e6:.2f} M authorized + disconnection lines/s; wall; CPU "
                  f"time of all threads {cpu:.3f} s: {events / cpu / 1e6:.2f} M events per CPU-second)")
PY
# the issue's "on one core": the same command pinned to one CPU, its threads taking turns
if [[ " ${FILES[*]} " == *" heavy.log "* ]] && command -v taskset >/dev/null; then
  log "hyperfine: pgconn heavy.log on one core (taskset -c 0)"
  hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$TMP/hf-one-core.json" \
    -n 'taskset -c 0 pgconn FILE' "taskset -c 0 $(q "$PGCONN") $(q "$DIR/heavy.log") > /dev/null" >&2
  python3 - "$TMP/files.txt" "$TMP/hf-one-core.json" "$TMP/heavy-events.txt" <<'PY'
import json, sys
conn = next(int(l.split("\t")[2]) for l in open(sys.argv[1]) if l.startswith("heavy.log\t"))
events = int(open(sys.argv[3]).read())
r = json.load(open(sys.argv[2]))["results"][0]
print(f"  {'one core':<19} {events / r['mean'] / 1e6:6.2f} M events/s "
      f"({conn / r['mean'] / 1e6:.2f} M authorized + disconnection lines/s; "
      f"{r['mean']:.3f} s ± {r['stddev'] or 0:.3f} s, median {r['median']:.3f} s, "
      f"taskset -c 0: one CPU, so --threads 1)")
PY
fi
echo

# ----------------------------------------------------------------------------------------------
# start-up: an empty input
log "hyperfine: pgconn < /dev/null"
# -N: no shell; hyperfine's stdin is /dev/null.  /bin/true: the cost of starting any process here
hyperfine --style basic -N --warmup 20 --runs 300 -i --export-json "$TMP/hf-empty.json" \
  -n 'pgconn < /dev/null' "$PGCONN" -n '/bin/true' /bin/true >&2
python3 - "$TMP/hf-empty.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['command'] + ':':<20} mean {r['mean'] * 1e3:.2f} ms ± {r['stddev'] * 1e3:.2f} ms, "
          f"min {r['min'] * 1e3:.2f} ms, median {r['median'] * 1e3:.2f} ms ({len(r['times'])} runs, no shell)")
PY
echo

# ----------------------------------------------------------------------------------------------
# memory: peak RSS of each variant on the whole file and on a ~1 MB head of it
log "peak RSS (/usr/bin/time -v)"
printf '%-11s %9s  %-19s %12s %12s\n' file MB command 'RSS whole' 'RSS 1 MB'
for f in "${FILES[@]}"; do
  F=$DIR/$f H=$TMP/head-$f
  head_bytes "$F" 1000000 >"$H"
  for v in file json stdin; do
    case $v in
      file) cmd='pgconn FILE' whole=$(peak_rss "$F") small=$(peak_rss "$H") ;;
      json) cmd='pgconn --json FILE' whole=$(peak_rss --json "$F") small=$(peak_rss --json "$H") ;;
      stdin) cmd='pgconn < FILE' whole=$(STDIN=$F peak_rss) small=$(STDIN=$H peak_rss) ;;
    esac
    printf '%-11s %9s  %-19s %9.1f MB %9.1f MB\n' "$f" "$(mb "$F")" "$cmd" \
      "$(awk -v k="$whole" 'BEGIN { print k / 1024 }')" "$(awk -v k="$small" 'BEGIN { print k / 1024 }')"
  done
done
echo "(peak resident set size, MiB; the 1 MB head is the file's first whole lines up to 10^6 bytes)"
echo

# ----------------------------------------------------------------------------------------------
# pgBadger on mixed.log, once (or on a slice of it: it reads 2-3 MB/s)
if [[ $BADGER_MB == all ]]; then
  S=$DIR/mixed.log
  log "pgbadger on the whole mixed.log ($(mb "$S") MB; minutes)"
elif ((BADGER_MB > 0)); then
  S=$TMP/mixed-slice.log
  head_bytes "$DIR/mixed.log" $((BADGER_MB * 1000000)) >"$S"
  log "pgbadger on a $(mb "$S") MB slice of mixed.log"
fi
if [[ $BADGER_MB != 0 ]]; then
  t0=$(date +%s.%N)
  pgbadger -f stderr --prefix '%m [%p] ' -x json -o "$TMP/pgbadger.json" "$S" >"$TMP/pgbadger.out" 2>&1 \
    || die "pgbadger failed: $(tail -5 "$TMP/pgbadger.out")"
  t1=$(date +%s.%N)
  [[ -s $TMP/pgbadger.json ]] || die "pgbadger wrote no $TMP/pgbadger.json"
  if [[ $BADGER_MB == all ]]; then
    # pgconn FILE on mixed.log was measured above, in this run
    slice_json=
  else
    slice_json=$TMP/hf-slice.json
    hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$slice_json" \
      -n 'pgconn SLICE' "$(q "$PGCONN") $(q "$S") > /dev/null" >&2
  fi
  python3 - "$(stat -c %s -- "$S")" "$t0" "$t1" "$slice_json" "$TMP/files.txt" <<'PY'
import json, sys
size, t0, t1, slice_json = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
mb = size / 1e6
badger = t1 - t0
big = None
for name, bsize, conn, path in (l.rstrip("\n").split("\t") for l in open(sys.argv[5])):
    if name == "mixed.log":
        r = next(r for r in json.load(open(path))["results"] if r["command"] == "pgconn FILE")
        big = (int(bsize) / 1e6 / r["mean"], r["mean"])
if not slice_json:
    print(f"pgBadger (-f stderr -x json, one job) on the whole mixed.log ({mb:.1f} MB): {badger:.1f} s, "
          f"{mb / badger:.2f} MB/s")
    print(f"pgconn FILE on the same file (above): {big[1]:.3f} s, {big[0]:.0f} MB/s "
          f"-> pgconn {badger / big[1]:.0f}x faster (measured, same file)")
else:
    slice_pgconn = json.load(open(slice_json))["results"][0]["mean"]
    print(f"pgBadger (-f stderr -x json, one job) on a {mb:.1f} MB slice of mixed.log: {badger:.1f} s, "
          f"{mb / badger:.2f} MB/s")
    print(f"pgconn FILE on the same slice: {slice_pgconn:.3f} s, {mb / slice_pgconn:.0f} MB/s "
          f"-> pgconn {badger / slice_pgconn:.0f}x faster (measured, same slice)")
    if big:
        print(f"pgconn FILE on the whole mixed.log: {big[0]:.0f} MB/s -> about "
              f"{big[0] / (mb / badger):.0f}x pgBadger's MB/s (extrapolated: pgBadger read only the slice)")
PY
  echo
fi

kill "$SAMPLER" 2>/dev/null; SAMPLER=
if [[ -s $TMP/busy.txt ]]; then
  echo "WARNING: other processes were busy during the run (2-second samples): $(sort "$TMP/busy.txt" | uniq -c | sort -rn | awk '{ printf "%s%s x%d", n++ ? ", " : "", $2, $1 }')"
else
  echo "no other busy process seen during the run (2-second samples)"
fi
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) at the end$(b=$(busy); [[ -z $b ]] || echo "; busy now: $b")"
echo "run.sh took $((SECONDS - START_TIME)) s; report saved to $REPORT"
