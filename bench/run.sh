#!/usr/bin/env bash
# The copy benchmark: N rows of a `users` table from MariaDB 10.11 on
# loopback, each tool run several times, alternating. Prints seconds, rows/s
# and peak RSS (/usr/bin/time -v) per run, checks each copy's row count and a
# content checksum against the source, and the ratios.
#   --target postgres (default): into PostgreSQL 15, tandem's backfill against
#     pgloader (its best configuration) and psql's \copy from a file;
#   --target mariadb: into another database of the same MariaDB server,
#     tandem's backfill against LOAD DATA INFILE of a file (the load limit)
#     and `mariadb-dump --single-transaction | mariadb`;
#   --target both: one after the other, each with its own table.
# Every tool loads into the same table DDL (primary key, unique email index).
# --durable runs both servers with their production durability (PostgreSQL
# fsync, synchronous_commit and full_page_writes on; InnoDB
# innodb_flush_log_at_trx_commit=1 and the doublewrite buffer on) instead of
# the tests' fast settings: what users run.
#
#   bench/run.sh [--target postgres|mariadb|both] [--durable] [--rows N] [--runs K] [--live]
#                [--rate OPS] [--live-seconds S] [--live-max-rows-per-second R]
#                [--only tandem,tandem2p,pgloader,copy,loaddata,dump] [--build DIR]
#                [--workers W] [--baseline TANDEM]
#
# --live adds the live-load mode: a workload process (tandem-bench-load) sends
# OPS mixed reads and writes per second through the router, first without a
# copy, then during a tandem backfill; it prints the copy rate against the
# idle copy and the workload's p50/p99 in both phases (S seconds without a
# copy, default 20), then verifies; --live-max-rows-per-second throttles that
# copy (the trade of copy rate for latency). --build uses an existing build folder.
# --workers sets the backfill's workers (default 4, tandem backfill's own; on
# 2 cores shared with the servers, 4 copy into MariaDB 6 % faster than 2 and
# hide its commits' flushes in --durable, into PostgreSQL 3 % slower).
# --only tandem2p runs the copy as two backfill processes (each --workers W,
# worker ids host-a and host-b, one control store), as on two machines.
# --baseline adds another tandem binary (e.g. built from an earlier commit) as
# the tool "baseline", alternating with this one, and prints tandem/baseline.
# Servers get fresh data directories under /tmp and are stopped on exit.
# Needs root on Debian 12 (installs its packages, like scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

rows=1000000
runs=2
target=postgres
durable=0
live=0
rate=1000
only=""
build=""
workers=4  # tandem backfill's own default
live_seconds=20
live_max_rate=0
baseline=""
saved_args=()  # every option but --target, for --target both
for ((i = 1; i <= $#; ++i)); do
  if [[ "${!i}" == --target ]]; then ((++i)); else saved_args+=("${!i}"); fi
done
while (($#)); do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    --durable) durable=1; shift ;;
    --rows) rows="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --live) live=1; shift ;;
    --rate) rate="$2"; shift 2 ;;
    --live-seconds) live_seconds="$2"; shift 2 ;;
    --live-max-rows-per-second) live_max_rate="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --baseline) baseline="$2"; shift 2 ;;
    -h | --help) sed -n "2,36p" "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$target" in
  postgres | mariadb) ;;
  both)
    # Each target in a run of its own (fresh servers), with the same options.
    "$0" --target postgres "${saved_args[@]}"
    exec "$0" --target mariadb "${saved_args[@]}"
    ;;
  *) echo "--target must be postgres, mariadb or both" >&2; exit 2 ;;
esac
[[ "$rows" =~ ^[0-9]+$ && "$rows" -ge 100 ]] || { echo "--rows must be a number >= 100" >&2; exit 2; }
[[ "$runs" =~ ^[0-9]+$ && "$runs" -ge 1 ]] || { echo "--runs must be a number >= 1" >&2; exit 2; }
[[ "$live_max_rate" =~ ^[0-9]+$ ]] || {
  echo "--live-max-rows-per-second must be a whole number of rows (0: no limit)" >&2
  exit 2
}

source scripts/deps.sh
install_packages bench

if [[ -z "$build" ]]; then
  build=build-bench
  echo "== build ($build, Release)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DTANDEM_BENCHMARKS=ON >/dev/null
  cmake --build "$build" -j2 --target tandem_cli tandem_bench_load
fi
[[ "$build" == /* ]] || build="$root/$build"
tandem="$build/tandem"
load="$build/tandem-bench-load"

echo "== servers"
source scripts/servers.sh
SERVERS_DIR=$(mktemp -d /tmp/tandem-bench-XXXXXX)
chmod 755 "$SERVERS_DIR"
trap stop_servers EXIT
POSTGRES_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
# Below Linux's ephemeral range (32768-60999): a client connection in
# TIME_WAIT on the port made the server's start fail ("Address already in use").
mport="${TANDEM_BENCH_MARIADB_PORT:-23316}"
pport="${TANDEM_BENCH_POSTGRES_PORT:-25442}"
mkdir -p "$SERVERS_DIR/files" "$SERVERS_DIR/work"
chown mysql:mysql "$SERVERS_DIR/files"
# Same settings as the tests' servers, with caches big enough to keep 1M rows
# warm; with --durable, the servers' production durability (later options win).
mariadb_durability="" postgres_durability="" durability="fast (fsync off, no redo flush at commit)"
if ((durable)); then
  mariadb_durability="--innodb-flush-log-at-trx-commit=1 --innodb-doublewrite=1"
  postgres_durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
  durability="durable (production defaults: fsync, flush at commit, doublewrite)"
fi
MARIADB_EXTRA_OPTIONS="--innodb-buffer-pool-size=1G --secure-file-priv=$SERVERS_DIR/files $mariadb_durability" \
  init_mariadb bench-mariadb "$mport"
if [[ "$target" == postgres ]]; then
  POSTGRES_EXTRA_OPTIONS="-c shared_buffers=512MB -c max_wal_size=4GB $postgres_durability" \
    init_postgres bench-postgres "$pport"
  echo "MariaDB $(mariadbd --version | awk '{print $3}') on 127.0.0.1:$mport -> PostgreSQL \
$("$POSTGRES_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$pport; servers $durability"
else
  echo "MariaDB $(mariadbd --version | awk '{print $3}') on 127.0.0.1:$mport, database bench -> database \
target; server $durability"
fi

mariadb_client() { mariadb --no-defaults -uroot --socket="$SERVERS_DIR/bench-mariadb/mysqld.sock" "$@"; }
postgres_client() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pport" -U tandem "$@"; }

echo "== dataset: $rows rows of users in MariaDB"
t0=$(date +%s%N)
mariadb_client -e "CREATE DATABASE bench"
mariadb_client bench <"$root/bench/sql/mariadb_users.sql"
chunk=500000
for ((first = 1; first <= rows; first += chunk)); do
  last=$((first + chunk - 1 < rows ? first + chunk - 1 : rows))
  sed -e "s/@FIRST@/$first/g" -e "s/@LAST@/$last/g" "$root/bench/sql/mariadb_generate.sql" | mariadb_client bench
done
mariadb_client bench -e "ANALYZE TABLE users" >/dev/null
# The file \copy reads: MariaDB's default OUTFILE format is PostgreSQL's text format.
tools=(tandem pgloader copy)
[[ "$target" == mariadb ]] && tools=(tandem loaddata dump)
[[ -n "$only" ]] && IFS=, read -r -a tools <<<"$only"
if [[ -n "$baseline" ]]; then
  [[ -x "$baseline" ]] || { echo "--baseline: '$baseline' is not an executable tandem" >&2; exit 2; }
  tools+=(baseline)
fi
if [[ " ${tools[*]} " == *" copy "* || " ${tools[*]} " == *" loaddata "* ]]; then
  mariadb_client bench -e "SELECT * FROM users ORDER BY id INTO OUTFILE '$SERVERS_DIR/files/users.tsv'"
else
  : >"$SERVERS_DIR/files/users.tsv"
fi
source_sum=$(mariadb_client -N bench <"$root/bench/sql/mariadb_checksum.sql" | tr '\t' ' ')
printf 'generated in %.1f s; file for \\copy and LOAD DATA: %s MB; source count and checksum: %s\n' \
  "$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { print (b - a) / 1e9 }')" "$(($(stat -c %s "$SERVERS_DIR/files/users.tsv") / 1048576))" \
  "$source_sum"

fresh_target() {
  if [[ "$target" == mariadb ]]; then
    mariadb_client -e "DROP DATABASE IF EXISTS target; CREATE DATABASE target"
    if [[ "${1:-}" != empty ]]; then mariadb_client target <"$root/bench/sql/mariadb_users.sql"; fi
    return
  fi
  postgres_client -d postgres -c "DROP DATABASE IF EXISTS target" -c "CREATE DATABASE target"
  if [[ "${1:-}" != empty ]]; then postgres_client -d target -f "$root/bench/sql/postgres_users.sql"; fi
}
new_url="postgres://tandem@127.0.0.1:$pport/target"
[[ "$target" == mariadb ]] && new_url="mariadb://tandem@127.0.0.1:$mport/target"

work="$SERVERS_DIR/work"
cat >"$work/tandem.toml" <<EOF
[migration]
name = "bench"
control = "sqlite:$work/control.db"
refresh_interval_ms = 200

[databases]
old = "mariadb://tandem@127.0.0.1:$mport/bench"
new = "$new_url"

[[collections]]
name = "users"
key = ["id"]
columns = [
  { name = "id", type = "int" },
  { name = "email", type = "text", nullable = false },
  { name = "name", type = "text" },
  { name = "age", type = "int" },
  { name = "balance", type = "decimal", nullable = false },
  { name = "created_at", type = "datetime", nullable = false },
  { name = "doc", type = "json" },
  { name = "active", type = "bool", nullable = false },
]
EOF

cat >"$work/pgloader.load" <<EOF
LOAD DATABASE
  FROM mysql://tandem@127.0.0.1:$mport/bench
  INTO postgresql://tandem@127.0.0.1:$pport/target
WITH include drop, create tables, create indexes, reset no sequences, prefetch rows = 25000
CAST type bigint to bigint drop typemod,
     type int to integer drop typemod,
     type varchar to varchar keep typemod,
     type decimal to numeric keep typemod,
     type datetime to timestamp keep typemod using zero-dates-to-null,
     type tinyint when (= precision 1) to boolean drop typemod using tinyint-to-boolean,
     column users.doc to jsonb
ALTER SCHEMA 'bench' RENAME TO 'public';
EOF

# timed NAME COMMAND...: runs COMMAND under /usr/bin/time -v; sets SECONDS_TAKEN and PEAK_MB.
timed() {
  local name="$1" log="$work/$1.log"
  shift
  if ! /usr/bin/time -v -o "$work/$name.time" "$@" >"$log" 2>&1; then
    echo "error: $name failed; its output:" >&2
    tail -30 "$log" >&2
    return 1
  fi
  local wall
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/$name.time")
  SECONDS_TAKEN=$(awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }' <<<"$wall")
  PEAK_MB=$(awk '/Maximum resident set size/ { printf "%.0f", $NF / 1024 }' "$work/$name.time")
}

check_target() {
  local got
  if [[ "$target" == mariadb ]]; then
    got=$(mariadb_client -N target <"$root/bench/sql/mariadb_checksum.sql" 2>&1 | tr '\t' ' ') || true
  else
    got=$(postgres_client -d target -A -t -F ' ' -f "$root/bench/sql/postgres_checksum.sql" 2>&1) || true
  fi
  if [[ "$got" != "$source_sum" ]]; then
    echo "error: $1 copy differs from the source: count and checksum $got, source $source_sum" >&2
    [[ -f "$work/$1.log" ]] && tail -40 "$work/$1.log" >&2
    return 1
  fi
}

results=()
record() {  # TOOL RUN
  local rate
  rate=$(awk -v n="$rows" -v s="$SECONDS_TAKEN" 'BEGIN { printf "%.0f", n / s }')
  results+=("$1 $2 $SECONDS_TAKEN $rate $PEAK_MB")
  printf '%-9s run %d: %8.2f s %9s rows/s %6s MB peak RSS, count and checksum match\n' "$1" "$2" \
    "$SECONDS_TAKEN" "$rate" "$PEAK_MB"
}

run_tandem() {
  fresh_target
  rm -f "$work"/control.db*
  timed tandem "$tandem" --config "$work/tandem.toml" backfill --old-is-frozen --workers "$workers"
  check_target tandem
}
run_baseline() {
  fresh_target
  rm -f "$work"/control.db*
  timed baseline "$baseline" --config "$work/tandem.toml" backfill --old-is-frozen --workers "$workers"
  check_target baseline
}
# Two backfill processes sharing the copy (as on two machines: their own
# worker ids, one control store), each with --workers W; peak RSS is the
# larger process's.
run_tandem2p() {
  fresh_target
  rm -f "$work"/control.db*
  timed tandem2p bash -c "'$tandem' --config '$work/tandem.toml' backfill --old-is-frozen --workers $workers \
      --worker-id host-a & '$tandem' --config '$work/tandem.toml' backfill --old-is-frozen --workers $workers \
      --worker-id host-b & wait -n && wait -n"
  check_target tandem2p
}
run_pgloader() {
  fresh_target empty
  timed pgloader pgloader --dynamic-space-size 4096 --no-ssl-cert-verification "$work/pgloader.load"
  check_target pgloader
}
run_copy() {
  fresh_target
  timed copy psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pport" -U tandem -d target \
    -c "\\copy users FROM '$SERVERS_DIR/files/users.tsv'"
  check_target copy
}

# Into MariaDB: the server's own bulk load of the file (the load limit), and a
# dump piped into the client, both into the same indexed table.
run_loaddata() {
  fresh_target
  timed loaddata mariadb --no-defaults -uroot --socket="$SERVERS_DIR/bench-mariadb/mysqld.sock" target \
    -e "LOAD DATA INFILE '$SERVERS_DIR/files/users.tsv' INTO TABLE users"
  check_target loaddata
}
run_dump() {
  fresh_target
  timed dump bash -c "mariadb-dump --no-defaults -uroot --socket='$SERVERS_DIR/bench-mariadb/mysqld.sock' \
    --single-transaction --no-create-info bench users | mariadb --no-defaults -uroot \
    --socket='$SERVERS_DIR/bench-mariadb/mysqld.sock' target"
  check_target dump
}

# A first copy into a fresh server creates its WAL files; later ones recycle
# them. One untimed copy first, so that every measured run finds the same.
echo "== warm-up (one ${tools[0]} copy, not counted)"
"run_${tools[0]}"
echo "== copies ($runs runs each, alternating: ${tools[*]})"
for ((run = 1; run <= runs; ++run)); do
  for tool in "${tools[@]}"; do
    "run_$tool"
    record "$tool" "$run"
    if [[ "$tool" == tandem && "$run" == "$runs" ]]; then
      # Verify the pair the last tandem copy made (verify prints CLEAN and exits 0 only then).
      timed verify "$tandem" --config "$work/tandem.toml" verify
      grep -q CLEAN "$work/verify.log" || { cat "$work/verify.log"; exit 1; }
      verify_seconds=$SECONDS_TAKEN verify_mb=$PEAK_MB
    fi
  done
done

mean_rate() { printf '%s\n' "${results[@]}" | awk -v t="$1" '$1 == t { s += $4; n++ } END { if (n) printf "%.0f", s / n }'; }
echo
echo "| tool | run | seconds | rows/s | peak RSS MB |"
echo "|---|---|---|---|---|"
printf '%s\n' "${results[@]}" | awk '{ printf "| %s | %s | %.2f | %s | %s |\n", $1, $2, $3, $4, $5 }'
tandem_rate=$(mean_rate tandem)
echo "target: $target; servers: $durability; $rows rows; backfill workers: $workers"
for other in pgloader copy loaddata dump baseline tandem2p; do
  other_rate=$(mean_rate "$other")
  if [[ -n "$tandem_rate" && -n "$other_rate" ]]; then
    awk -v a="$tandem_rate" -v b="$other_rate" -v o="$other" \
      'BEGIN { printf "tandem/%s: %.2f (mean rows/s %d / %d)\n", o, a / b, a, b }'
  fi
done

if [[ -n "${verify_seconds:-}" ]]; then
  awk -v n="$rows" -v s="$verify_seconds" -v m="$verify_mb" \
    'BEGIN { printf "verify (after the last tandem copy): %.2f s, %.0f rows/s, %s MB peak RSS, clean\n", s, n / s, m }'
fi

if ((live)); then
  source "$root/bench/live.sh"
fi
