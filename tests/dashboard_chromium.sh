#!/usr/bin/env bash
# The dashboard in a real browser: a migration made by `tandem demo` (SQLite),
# moved back one step through the admin API while `tandem serve` runs; headless
# Chromium loads the dashboard, and the rendered DOM must show what the admin
# API reports (step, live instances, backfill rows, verify, the move in the
# history). Saves a screenshot as a test artifact.
# Usage: dashboard_chromium.sh TANDEM ARTIFACT_DIR
set -uo pipefail
tandem="$1" artifacts="$2"
command -v chromium >/dev/null || { echo "chromium is not installed (scripts/deps.sh installs it)"; exit 1; }
dir=$(mktemp -d)
serve_pid="" second_pid=""
cleanup() {
  [[ -n "$second_pid" ]] && kill "$second_pid" 2>/dev/null && wait "$second_pid" 2>/dev/null
  [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$tandem" demo --records 2000 --seconds-per-step 0.2 --threads 2 --dir "$dir/demo" >"$dir/demo.out" 2>&1 ||
  { tail -20 "$dir/demo.out"; fail "tandem demo"; }
token="dash-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
(umask 077 && echo "$token" >"$dir/token")
"$tandem" --config "$dir/demo/tandem.toml" serve --listen 127.0.0.1:0 --admin-token-file "$dir/token" \
  >"$dir/serve.out" 2>"$dir/serve.log" &
serve_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$dir/serve.out" 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o "http://127.0.0.1:[0-9]*" "$dir/serve.out" | head -1)
[[ -n "$url" ]] || { cat "$dir/serve.out" "$dir/serve.log"; fail "tandem serve did not start"; }
# A second gateway of the same migration: an instance of its own.
"$tandem" --config "$dir/demo/tandem.toml" serve --listen 127.0.0.1:0 >"$dir/second.out" 2>"$dir/second.log" &
second_pid=$!
auth="Authorization: Bearer $token"
curl -sf -H "$auth" -X POST "$url/admin/v1/step" -d '{"action":"back","reason":"dashboard test"}' >/dev/null ||
  fail "the admin API refused the move back"
sleep 0.5  # the serve instance applies the step at its next refresh
status=$(curl -sf -H "$auth" "$url/admin/v1/status") || fail "GET /admin/v1/status"
read -r step scanned estimate records < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
u = s["collections"]["users"]
print(s["step"]["number"], u["backfill"]["scanned"], u["backfill"]["total_estimate"], u["verify"]["records"])' "$status")

browse() {
  timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1000 \
    --virtual-time-budget=5000 "$@" "$url/#token=$token" 2>>"$dir/chromium.log"
}
dom=$(browse --dump-dom) || fail "chromium could not load the dashboard"
grep -q "id=\"step-number\">$step<" <<<"$dom" || fail "the dashboard does not show step $step"
grep -q 'id="instances-count">2<' <<<"$dom" ||
  fail "the dashboard does not show the two gateways as two live instances: $(grep -o 'id="instances-count">[^<]*' <<<"$dom")"
grep -q "users: backfill complete" <<<"$dom" || fail "the dashboard does not show the complete backfill"
grep -q "$scanned / $estimate rows read" <<<"$dom" || fail "the dashboard does not show $scanned / $estimate rows read"
grep -q "verify: clean, $records records" <<<"$dom" || fail "the dashboard does not show the clean verify of $records"
grep -q "dashboard test" <<<"$dom" || fail "the dashboard's history lacks the move made through the admin API"
grep -q '<div id="error"></div>' <<<"$dom" || fail "the dashboard shows an error: $(grep -o '<div id="error">[^<]*' <<<"$dom")"
grep -q '<table id="samples">' <<<"$dom" || fail "the dashboard lacks the shadow-mismatch samples"
grep -q "$token" <<<"$dom" && fail "the rendered page holds the admin token"
mkdir -p "$artifacts"
browse --screenshot="$artifacts/dashboard.png" >/dev/null || fail "chromium could not take the screenshot"
[[ $(stat -c %s "$artifacts/dashboard.png") -gt 10000 ]] || fail "the screenshot is empty"
echo "dashboard: step $step, backfill $scanned rows, verify clean of $records records; screenshot $artifacts/dashboard.png"
