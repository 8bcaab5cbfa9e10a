#!/usr/bin/env bash
# End to end through `tandem serve`, PostgreSQL (old) -> MariaDB (new): the
# Python client's workload (tests/serve_workload.py) through the gateway while
# the admin API walks all 7 steps with the backfill and verify as jobs; final
# check of new against the client's model, through the gateway and with the
# mariadb client. Also: the server's log and answers never hold the admin
# token. Needs the servers scripts/test.sh starts.
# Usage: serve_end_to_end.sh TANDEM
set -uo pipefail
tandem="$1"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/e2e_databases.sh"
serve_pid=""
stop_all() {
  [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  cleanup
}
trap stop_all EXIT

fresh_database postgres old >"$dir/old.url" || exit 1
fresh_database mariadb new >"$dir/new.url" || exit 1
old_db="${TANDEM_TEST_POSTGRES_URL%/*}/tandem_e2e_old_$$"
psql "$old_db" -qc "CREATE TABLE users (id BIGINT PRIMARY KEY, email TEXT NOT NULL, name TEXT, age BIGINT,
  balance NUMERIC(12,2))" || exit 1
cat >"$dir/tandem.toml" <<TOML
[migration]
name = "serve-end-to-end"
control = "control.db"
refresh_interval_ms = 200
instance_timeout_ms = 3000

[databases]
old = "$(cat "$dir/old.url")"
new = "$(cat "$dir/new.url")"

[[collections]]
name = "users"
key = ["id"]
columns = [
  { name = "id", type = "int" },
  { name = "email", type = "text", nullable = false },
  { name = "name", type = "text" },
  { name = "age", type = "int" },
  { name = "balance", type = "decimal" },
]
TOML
"$tandem" --config "$dir/tandem.toml" init || { echo "tandem init failed"; exit 1; }
token="e2e-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
(umask 077 && echo "$token" >"$dir/token")
"$tandem" --config "$dir/tandem.toml" --log-level debug serve --listen 127.0.0.1:0 \
  --admin-token-file "$dir/token" --max-body-kb 1024 >"$dir/serve.out" 2>"$dir/serve.log" &
serve_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$dir/serve.out" 2>/dev/null && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$dir/serve.out" "$dir/serve.log"; echo "tandem serve exited"; exit 1; }
  sleep 0.1
done
url=$(grep -o "http://127.0.0.1:[0-9]*" "$dir/serve.out" | head -1)
[[ -n "$url" ]] || { cat "$dir/serve.out" "$dir/serve.log"; echo "tandem serve did not say where it listens"; exit 1; }
echo "tandem serve at $url"
new_db="tandem_e2e_new_$$"
python3 "$here/serve_workload.py" --url "$url" --token-file "$dir/token" \
  --mariadb-cmd "$TANDEM_TEST_MARIADB_ROOT $new_db" --keys 2000 --threads 4 --seconds-per-step 1.0
rc=$?
kill "$serve_pid" && wait "$serve_pid"
serve_rc=$?
serve_pid=""
if grep -q "$token" "$dir/serve.out" "$dir/serve.log"; then
  echo "FAIL: the admin token is in tandem serve's output"
  rc=1
fi
[[ $serve_rc -eq 0 ]] || { echo "FAIL: tandem serve exited with $serve_rc on SIGTERM"; tail -20 "$dir/serve.log"; rc=1; }
echo "tandem serve's log: $(wc -l <"$dir/serve.log") lines"
exit $rc
