#!/usr/bin/env bash
# Build pgconn's throughput-benchmark inputs from a real, throwaway PostgreSQL 15 server.
#
#   bench/make-logs.sh            run the three workloads, then build the big files
#   bench/make-logs.sh --reuse    skip the server runs if DIR/real/ already holds their logs
#
# Environment:
#   PGCONN_BENCH_DIR      where everything goes (default /tmp/pgconn-bench; keep it out of the repo)
#   PGCONN_BENCH_SIZE_MB  size of each big file in MB of 10^6 bytes (default 1000)
#   PGCONN_BENCH_SECONDS  pgbench -T of each workload (default 20)
#   PG_BIN                PostgreSQL 15 binaries (default /usr/lib/postgresql/15/bin)
#
# Three server runs on one cluster (stderr + csvlog + jsonlog, logging_collector = on,
# log_connections = on, log_disconnections = on, log_line_prefix = '%m [%p] ', lc_messages = 'C'),
# each writing its own log files DIR/real/NAME.{log,csv,json}:
#   light  pgbench -i -s 5, then pgbench -c 4 -T 20       (persistent connections), every statement logged
#   mixed  pgbench -C -c 4 -T 20       (a connection per transaction), every statement logged
#   heavy  pgbench -C -c 4 -T 20 -S    (select-only, a connection per transaction), no statement logging
# Then the big files, copies of a real log concatenated up to PGCONN_BENCH_SIZE_MB:
#   DIR/light.log DIR/mixed.log DIR/heavy.log (stderr), DIR/mixed.csv, DIR/mixed.json
# (copies repeat the same timestamps and pids: time jumps back at each seam).
#
# PostgreSQL refuses to run as root: as root the server and pgbench run as the system user
# pgconn-fx (created if missing, as fixtures/generate.sh does) via runuser.
set -euo pipefail

log() { printf '[make-logs] %s\n' "$*" >&2; }
die() { printf '[make-logs] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=fixtures/throwaway-server.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../fixtures/throwaway-server.sh"

REUSE=0
case ${1:-} in
  --reuse) REUSE=1; shift ;;
  '') ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
[[ $# -eq 0 ]] || die "no arguments besides --reuse"

DIR=${PGCONN_BENCH_DIR:-/tmp/pgconn-bench}
SIZE_MB=${PGCONN_BENCH_SIZE_MB:-1000}
DURATION=${PGCONN_BENCH_SECONDS:-20}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
[[ $SIZE_MB =~ ^[0-9]+$ && $SIZE_MB -ge 1 ]] || die "PGCONN_BENCH_SIZE_MB must be a positive integer"
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 ]] || die "PGCONN_BENCH_SECONDS must be a positive integer"
WORKLOADS=(light mixed heavy)
BIG=(light.log mixed.log heavy.log mixed.csv mixed.json)
START_TIME=$SECONDS

mkdir -p -- "$DIR/real"
DIR=$(cd -- "$DIR" && pwd -P)

# disk: the five big files plus the real logs (a few hundred MB at most) and the cluster
need_mb=$((SIZE_MB * ${#BIG[@]} + 1000))
have_mb=$(df -Pm -- "$DIR" | awk 'NR == 2 { print $4 }')
old_mb=$(du -smc -- "${BIG[@]/#/$DIR/}" 2>/dev/null | awk 'END { print $1 + 0 }') || true
have_mb=$((have_mb + ${old_mb:-0}))
((have_mb >= need_mb)) || die "$DIR: ${have_mb} MB free (counting the files this replaces), need about ${need_mb} MB"
log "output in $DIR (${have_mb} MB free, need about ${need_mb} MB)"

have_real=1
for w in "${WORKLOADS[@]}"; do
  for ext in log csv json; do [[ -s $DIR/real/$w.$ext ]] || have_real=0; done
done

# ----------------------------------------------------------------------------------------------
# the server runs (the same approach as fixtures/generate.sh: a temp data dir, a Unix socket and
# 127.0.0.1 on a free port, a clean environment, runuser as root, cleanup on exit)
run_server_workloads() {
  for b in initdb pg_ctl postgres pgbench psql; do
    [[ -x $PG_BIN/$b ]] || die "no $b in PG_BIN='$PG_BIN' (apt-get install -y postgresql-15)"
  done
  SERVER_VERSION=$("$PG_BIN/postgres" -V | sed -E 's/^[^0-9]*([0-9]+(\.[0-9]+)*).*$/\1/')
  [[ ${SERVER_VERSION%%.*} -ge 15 ]] || die "jsonlog needs PostgreSQL 15+, $PG_BIN/postgres is $SERVER_VERSION"

  pg_run_user
  pg_tempdir pgconn-bench-pg
  DATA=$T/data SOCK=$T/sock SERVER_UP=0
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  cd "$T"   # the server user must be able to access the cwd

  pg_clean_env "$PG_BIN"
  pg_free_port
  log "PostgreSQL $SERVER_VERSION from $PG_BIN, port $PORT, data in $T"

  as_pg initdb -D "$DATA" -U postgres --no-locale -E UTF8 --auth-local=trust \
    --auth-host=scram-sha-256 >"$T/initdb.out" 2>&1 || die "initdb failed: $(cat "$T/initdb.out")"
  mkdir -p "$SOCK"
  [[ -z $RUN_USER ]] || chown "$RUN_USER:" "$SOCK"
  printf '\n# ---- pgconn benchmark settings ----\n' >>"$DATA/postgresql.conf"
  pg_logging_conf "$DATA/postgresql.conf"
  cat >>"$DATA/postgresql.conf" <<EOF
log_line_prefix = '%m [%p] '
# per run: log_filename and log_min_duration_statement
include_if_exists = 'bench-run.conf'
EOF

  # light: init + persistent connections; statements logged
  server_run light 0 pgbench_init pgbench -c 4 -T "$DURATION"
  # mixed: a connection per transaction; statements logged
  server_run mixed 0 - pgbench -C -c 4 -T "$DURATION"
  # heavy: a connection per select-only transaction; no statement logging
  server_run heavy -1 - pgbench -C -c 4 -T "$DURATION" -S
}

cleanup() {
  local rc=$?
  set +e
  if [[ $SERVER_UP == 1 ]]; then
    as_pg pg_ctl -D "$DATA" -m immediate -w stop >/dev/null 2>&1
  fi
  rm -rf -- "$T"
  exit $rc
}
pgbench_init() {
  as_pg pgbench -i -q -s 5 -h "$SOCK" -p "$PORT" -U postgres postgres >"$T/pgbench-i.out" 2>&1 \
    || die "pgbench -i failed: $(cat "$T/pgbench-i.out")"
}

# server_run NAME LOG_MIN_DURATION_STATEMENT SETUP_FN|- pgbench ARGS...: start the server with
# log_filename NAME.log (csvlog NAME.csv, jsonlog NAME.json), run SETUP_FN and pgbench, stop it,
# wait for the collector to write the shutdown line to every destination, copy the three files
server_run() {
  local name=$1 lmds=$2 setup=$3 f t0
  shift 3
  shift   # "pgbench"
  cat >"$DATA/bench-run.conf" <<EOF
log_filename = '$name.log'
log_min_duration_statement = $lmds
EOF
  [[ -z $RUN_USER ]] || chown "$RUN_USER:" "$DATA/bench-run.conf"
  as_pg pg_ctl -D "$DATA" -l "$T/pg_ctl.log" -w -t 60 start >/dev/null \
    || die "server did not start: $(cat "$T/pg_ctl.log" "$DATA"/log/* 2>/dev/null)"
  SERVER_UP=1
  t0=$SECONDS
  [[ $setup == - ]] || "$setup"
  log "$name: pgbench $* (log_min_duration_statement = $lmds)"
  as_pg pgbench "$@" -h "$SOCK" -p "$PORT" -U postgres postgres >"$T/pgbench-$name.out" 2>&1 \
    || die "pgbench $* failed: $(cat "$T/pgbench-$name.out")"
  log "$name:   $(grep -E '^(number of transactions actually processed|tps = )' "$T/pgbench-$name.out" | sed 's/ (without initial connection time)//' | paste -sd';' -)"
  as_pg pg_ctl -D "$DATA" -m fast -w -t 60 stop >/dev/null || die "server did not stop"
  SERVER_UP=0
  for f in "$DATA/log/$name".{log,csv,json}; do
    local deadline=$((SECONDS + 30))
    until [[ -r $f ]] && grep -q 'database system is shut down' "$f"; do
      ((SECONDS < deadline)) || die "$f never got the shutdown line"
      sleep 0.1
    done
  done
  for ext in log csv json; do
    cp -- "$DATA/log/$name.$ext" "$DIR/real/$name.$ext.tmp"
    chmod 644 "$DIR/real/$name.$ext.tmp"
    mv -f -- "$DIR/real/$name.$ext.tmp" "$DIR/real/$name.$ext"
  done
  cp -- "$T/pgbench-$name.out" "$DIR/real/$name.pgbench.out"
  log "$name: server run of $((SECONDS - t0)) s -> $DIR/real/$name.{log,csv,json}"
}

if ((REUSE && have_real)); then
  log "--reuse: keeping the server logs in $DIR/real/"
else
  run_server_workloads
fi

# ----------------------------------------------------------------------------------------------
# the big files: whole copies of a real log until PGCONN_BENCH_SIZE_MB is reached
target=$((SIZE_MB * 1000000))
build() { # build SRC DST
  local src=$1 dst=$2 size n i args=()
  size=$(stat -c %s -- "$src")
  ((size > 0)) || die "$src is empty"
  n=$(((target + size - 1) / size))
  for ((i = 0; i < n; i++)); do args+=("$src"); done
  cat -- "${args[@]}" >"$dst.tmp"
  mv -f -- "$dst.tmp" "$dst"
  log "$(basename -- "$dst"): $n copies of $(basename -- "$src") ($((size / 1000)) kB)"
}
for f in "${BIG[@]}"; do
  build "$DIR/real/${f%.*}.${f##*.}" "$DIR/$f"
done

# ----------------------------------------------------------------------------------------------
stats() { # stats FILE...: size, lines, connection lines and their share
  local f bytes lines conn
  printf '%-22s %10s %12s %12s %8s\n' file MB lines conn_lines conn_%
  for f in "$@"; do
    bytes=$(stat -c %s -- "$f")
    lines=$(wc -l <"$f")
    conn=$(LC_ALL=C grep -c 'connection authorized\|disconnection:' "$f" || true)
    awk -v f="${f#"$DIR"/}" -v b="$bytes" -v l="$lines" -v c="$conn" \
      'BEGIN { printf "%-22s %10.1f %12d %12d %7.2f%%\n", f, b / 1e6, l, c, l ? 100 * c / l : 0 }'
  done
}
echo "real server logs ($DIR/real):"
stats "$DIR"/real/{light,mixed,heavy}.{log,csv,json}
echo
echo "benchmark files ($DIR):"
stats "${BIG[@]/#/$DIR/}"
log "done in $((SECONDS - START_TIME)) s"
