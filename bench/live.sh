# Sourced by bench/run.sh --live: the live-load mode. The workload
# (tandem-bench-load, its own process, registered like a service) sends $rate
# operations/s through the router at dual-write: first for $live_seconds
# seconds with no copy (the baseline), then during a tandem backfill. Then
# verify, and the source's count and checksum against the copy's.

echo
echo "== live load: $rate operations/s through the router at dual-write$(
  ((live_max_rate > 0)) && echo "; the copy throttled to $live_max_rate rows/s")"
fresh_target
rm -f "$work"/control.db*
"$tandem" --config "$work/tandem.toml" step next >"$work/step.log" 2>&1 || { cat "$work/step.log"; exit 1; }

# load_figure FILE FIELD: a field of the workload's summary line.
load_figure() { awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' "$1"; }

"$load" --config "$work/tandem.toml" --rate "$rate" --seconds "$live_seconds" --keys "$rows" --seed 1 \
  >"$work/load-idle.out" 2>"$work/load-idle.err" || { cat "$work/load-idle.out" "$work/load-idle.err"; exit 1; }
echo "workload without a copy: $(cat "$work/load-idle.out")"

"$load" --config "$work/tandem.toml" --rate "$rate" --keys "$rows" --seed 2 \
  >"$work/load-copy.out" 2>"$work/load-copy.err" &
load_pid=$!
sleep 1
if ! timed tandem-live "$tandem" --config "$work/tandem.toml" backfill --workers "$workers" \
  --max-rows-per-second "$live_max_rate"; then
  kill "$load_pid" 2>/dev/null || true
  exit 1
fi
copy_seconds=$SECONDS_TAKEN copy_mb=$PEAK_MB
kill -TERM "$load_pid"
wait "$load_pid" || { cat "$work/load-copy.out" "$work/load-copy.err"; exit 1; }
echo "workload during the copy: $(cat "$work/load-copy.out")"

timed verify-live "$tandem" --config "$work/tandem.toml" verify
grep -q CLEAN "$work/verify-live.log" || { cat "$work/verify-live.log"; exit 1; }
source_sum=$(mariadb_client -N bench <"$root/bench/sql/mariadb_checksum.sql" | tr '\t' ' ')
check_target "live"

idle_p50=$(load_figure "$work/load-idle.out" p50_us) idle_p99=$(load_figure "$work/load-idle.out" p99_us)
copy_p50=$(load_figure "$work/load-copy.out" p50_us) copy_p99=$(load_figure "$work/load-copy.out" p99_us)
awk -v n="$rows" -v s="$copy_seconds" -v m="$copy_mb" -v idle="$tandem_rate" -v ip50="$idle_p50" \
  -v ip99="$idle_p99" -v cp50="$copy_p50" -v cp99="$copy_p99" -v vs="$SECONDS_TAKEN" 'BEGIN {
  rate = n / s
  printf "copy under load: %.2f s, %.0f rows/s, %s MB peak RSS; %.0f%% of the idle copy (%d rows/s)\n",
         s, rate, m, (idle > 0 ? 100 * rate / idle : 0), idle
  printf "workload p50 %d us -> %d us, p99 %d us -> %d us during the copy (p99 x%.2f)\n",
         ip50, cp50, ip99, cp99, (ip99 > 0 ? cp99 / ip99 : 0)
  printf "verify after the live copy: %.2f s, clean; source and copy count and checksum match\n", vs
}'
