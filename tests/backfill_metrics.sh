#!/usr/bin/env bash
# `tandem backfill --metrics-listen`: the copy's own metrics, scraped twice
# while a throttled backfill runs, must show its rows moving.
# Usage: backfill_metrics.sh TANDEM
set -uo pipefail
tandem="$1"
dir=$(mktemp -d)
bf_pid=""
trap '[[ -n "$bf_pid" ]] && kill "$bf_pid" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$tandem" demo --records 6000 --seconds-per-step 0.2 --threads 2 --dir "$dir/demo" >"$dir/demo.out" 2>&1 ||
  { tail -20 "$dir/demo.out"; fail "tandem demo"; }
"$tandem" --config "$dir/demo/tandem.toml" backfill --restart --workers 1 --max-rows-per-second 400 \
  --metrics-listen 127.0.0.1:0 >"$dir/bf.out" 2>"$dir/bf.log" &
bf_pid=$!
for _ in $(seq 100); do grep -q "metrics at" "$dir/bf.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$dir/bf.log" | head -1)
[[ -n "$url" ]] || { cat "$dir/bf.log"; fail "no metrics address printed"; }
scanned() { curl -sf "$url" | awk '/^tandem_backfill_run_rows_total\{collection="users",outcome="scanned"\}/ {print $2}'; }
sleep 2
first=$(scanned)
[[ -n "$first" ]] || fail "no tandem_backfill_run_rows_total in $url"
# Polled for up to 10 s: the count moves a batch at a time, and at 400 rows/s
# a grown batch waits its turn for seconds (a 2 s window once saw none move).
second=$first
for _ in $(seq 40); do
  sleep 0.25
  second=$(scanned)
  [[ -n "$second" ]] || fail "no tandem_backfill_run_rows_total in $url"
  ((second > first)) && break
done
((second > first)) || fail "the rows did not move in 10 s: $first then $second"
curl -sf "$url" | grep -q '^tandem_step 7$' || fail "the migration's step is not in the backfill's metrics"
# Throttled by its limit: a worker waits for it now or waited since the last
# report. Polled: a slow (sanitizer) build may copy under the limit for a moment.
throttled=0
for _ in $(seq 40); do
  if curl -sf "$url" | grep -q '^tandem_backfill_run_throttled{collection="users",reason="rate_limit"} 1$'; then
    throttled=1
    break
  fi
  sleep 0.25
done
((throttled)) || fail "the copy at its limit of 400 rows/s is never shown throttled by it: $(curl -sf "$url" | grep throttled)"
echo "backfill metrics: rows read $first, then $second; the migration's step with them"
