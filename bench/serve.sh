#!/usr/bin/env bash
# The gateway benchmark (issue 16): `tandem serve` against the library path
# on the same machine and store, an SQLite migration made by `tandem demo`
# (reads at its last step go to new, an SQLite file). Prints:
#   1. added latency: the same open-loop fixed-rate keyed reads (tandem-bench-load,
#      --rate R, latency counted from when each read was due) through the
#      library and through the gateway; p50 and p99 of both and the difference;
#   2. throughput: wrk, keep-alive, C connections, random keys, reads/s and
#      wrk's p50/p99 at saturation;
#   3. memory: the serve process's RSS before and after 1M requests (wrk again).
#
#   bench/serve.sh [--records N] [--rate R] [--seconds S] [--connections C] [--requests M] [--build DIR]
# Needs wrk (Debian package; installed here like the other benchmark tools).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
records=20000 rate=2000 seconds=10 connections=16 requests=1000000 build=""
while (($#)); do
  case "$1" in
    --records) records="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
source scripts/deps.sh
install_packages build
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
if [[ -z "$build" ]]; then
  build=build-bench
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DTANDEM_BENCHMARKS=ON >/dev/null
  cmake --build "$build" -j2 --target tandem_cli tandem_bench_load
fi
[[ "$build" == /* ]] || build="$root/$build"
tandem="$build/tandem" load="$build/tandem-bench-load"
dir=$(mktemp -d)
serve_pid=""
trap '[[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null; rm -rf "$dir"' EXIT

echo "== an SQLite migration of $records users (tandem demo), at its last step"
"$tandem" demo --records "$records" --seconds-per-step 0.2 --threads 2 --dir "$dir/demo" >"$dir/demo.out" 2>&1
config="$dir/demo/tandem.toml"
"$tandem" --config "$config" serve --listen 127.0.0.1:0 --threads 32 >"$dir/serve.out" 2>"$dir/serve.log" &
serve_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$dir/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o "http://127.0.0.1:[0-9]*" "$dir/serve.out" | head -1)
rss() { awk '/VmRSS/ {print $2 / 1024}' "/proc/$serve_pid/status"; }
field() { grep -oE "(^| )$1 [0-9.]+" <<<"$2" | awk "{print \$2}"; }

echo "== 1. added latency: $rate keyed reads/s for ${seconds}s, 2 client threads, open loop"
lib=$("$load" --config "$config" --reads-only --rate "$rate" --seconds "$seconds" --keys "$records" --threads 2)
gw=$("$load" --http "$url" --rate "$rate" --seconds "$seconds" --keys "$records" --threads 2)
printf "  %-8s %10s %10s %10s\n" path ops p50_us p99_us
printf "  %-8s %10s %10s %10s\n" library "$(field ops "$lib")" "$(field p50_us "$lib")" "$(field p99_us "$lib")"
printf "  %-8s %10s %10s %10s\n" gateway "$(field ops "$gw")" "$(field p50_us "$gw")" "$(field p99_us "$gw")"
echo "  added by the gateway: p50 $(($(field p50_us "$gw") - $(field p50_us "$lib"))) us, p99 $(($(field p99_us "$gw") - $(field p99_us "$lib"))) us (target p50 <= 50 us)"

cat >"$dir/keys.lua" <<LUA
math.randomseed(42)
request = function()
  return wrk.format("GET", "/v1/collections/users/records/" .. math.random(1, $records))
end
LUA
echo "== 2. throughput: wrk, 2 threads, $connections keep-alive connections, ${seconds}s"
out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$dir/keys.lua" "$url")
echo "$out" | grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx|Socket errors" | sed 's/^/  /'
echo "  (target: >= 20,000 keyed reads/s on 2 cores, wrk sharing them)"

echo "== 3. memory: RSS of tandem serve before and after $requests requests"
before=$(rss)
duration=$(awk -v n="$requests" -v r="$(grep -o 'Requests/sec: *[0-9.]*' <<<"$out" | awk '{print $2}')" \
  'BEGIN { printf "%d", n / r + 1 }')
out=$(wrk -t2 -c"$connections" -d"${duration}s" -s "$dir/keys.lua" "$url")
done_requests=$(grep -o "[0-9]* requests in" <<<"$out" | awk '{print $1}')
mid=$(rss)
out=$(wrk -t2 -c"$connections" -d"${duration}s" -s "$dir/keys.lua" "$url")
done_requests2=$(grep -o "[0-9]* requests in" <<<"$out" | awk '{print $1}')
after=$(rss)
printf "  RSS %.1f MB before, %.1f MB after %s requests, %.1f MB after %s more\n" "$before" "$mid" \
  "$done_requests" "$after" "$done_requests2"
