#!/usr/bin/env bash
# The control store's scale figures (issue 15, item 6; a benchmark, not a
# test): N service instances (threads of tandem-bench-control, each its own
# Migration with its own control-store connections; old and new are SQLite
# files) on one PostgreSQL control store at refresh_interval 1000 ms. For each
# N: the time from an operator's step move until every instance routes by the
# new step (several moves; median and max, in ms and in refresh intervals),
# and at steady state the control database's statements/s (pg_stat_statements;
# pg_stat_database transactions as a cross-check), per instance, and the
# postgres processes' CPU (from /proc), over a 10 s window.
#
#   bench/control_scale.sh [--instances "10 100 500"] [--moves K] [--window S]
#                          [--build DIR] [--port P]
#
# Starts its own PostgreSQL (port 57432 by default, a fresh data directory
# under /tmp, max_connections 1500, pg_stat_statements) and stops it on exit.
# One fresh database per N. Needs root (runs the server as user postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

counts="10 100 500"
moves=10
window=10
build=""
port=57432
while (($#)); do
  case "$1" in
    --instances) counts="$2"; shift 2 ;;
    --moves) moves="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    -h | --help) sed -n "2,18p" "$0"; exit 0 ;;
    *) echo "bench/control_scale.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -z "$build" ]]; then
  build=build-bench
  echo "== build ($build, Release)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DTANDEM_BENCHMARKS=ON >/dev/null
  cmake --build "$build" -j2 --target tandem_bench_control
fi
[[ "$build" == /* ]] || build="$root/$build"
bench="$build/tandem-bench-control"

echo "== server"
source scripts/servers.sh
SERVERS_DIR=$(mktemp -d /tmp/tandem-control-scale-XXXXXX)
chmod 755 "$SERVERS_DIR"
work="$SERVERS_DIR/work"
cleanup() {
  stop_servers
}
trap cleanup EXIT
POSTGRES_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
# The later -c max_connections wins over servers.sh's 300.
POSTGRES_EXTRA_OPTIONS="-c max_connections=1500 -c shared_buffers=256MB -c shared_preload_libraries=pg_stat_statements"
init_postgres control "$port"
echo "PostgreSQL $("$POSTGRES_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
postmaster=$(head -1 "$SERVERS_DIR/control/postmaster.pid")
psql_admin() { "$POSTGRES_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U tandem "$@"; }

results=()
for n in $counts; do
  db="control_$n"
  echo "== N = $n"
  psql_admin -d postgres -c "CREATE DATABASE $db" >/dev/null
  psql_admin -d "$db" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  rm -rf "$work" && mkdir -p "$work"
  out=$("$bench" --control "postgres://tandem@127.0.0.1:$port/$db" \
    --conninfo "host=127.0.0.1 port=$port user=tandem dbname=$db" --dir "$work" --instances "$n" \
    --moves "$moves" --window "$window" --postmaster-pid "$postmaster" 2>&1) || {
    echo "$out" | tail -20
    echo "N = $n: the benchmark failed (above)" >&2
    results+=("n=$n FAILED")
    continue
  }
  echo "$out" | grep -v '^RESULT'
  results+=("$(echo "$out" | grep '^RESULT' | sed 's/^RESULT //')")
done

echo
echo "== control store scale (refresh_interval 1000 ms, $moves moves per N, ${window} s load window, $(nproc) cores)"
printf "%6s | %21s | %21s | %9s | %9s | %8s | %8s\n" N "move->all ms med/max" "in intervals med/max" \
  "queries/s" "per inst" "pg CPU%" "bench%"
for r in "${results[@]}"; do
  declare -A f=()
  for kv in $r; do f[${kv%%=*}]=${kv#*=}; done
  if [[ "$r" == *FAILED* ]]; then
    printf "%6s | %s\n" "${f[n]}" "failed"
    unset f
    continue
  fi
  printf "%6s | %21s | %21s | %9s | %9s | %8s | %8s\n" "${f[n]}" "${f[median_ms]} / ${f[max_ms]}" \
    "${f[median_iv]} / ${f[max_iv]}" "${f[qps]}" "${f[qps_per_instance]}" "${f[pg_cpu]}" "${f[bench_cpu]}"
  unset f
done
echo "(queries/s: statements from pg_stat_statements; CPU: % of one core, postgres processes and the"
echo " benchmark process, over the window; target: all applied within 2 intervals at <= 1 query/instance/s)"
