#!/usr/bin/env bash
# End to end, SQLite -> PostgreSQL: the live demo (workload through the router
# during the backfill, all seven steps, final check against the model) with
# new on the PostgreSQL that scripts/test.sh started. Fails without it.
set -uo pipefail
tandem="$1"
admin="${TANDEM_TEST_POSTGRES_URL:-}"
if [[ -z "$admin" ]]; then
  echo "TANDEM_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh, which starts PostgreSQL"
  exit 1
fi
db="tandem_demo_$$"
psql "$admin" -qc "CREATE DATABASE $db" || exit 1
dir=$(mktemp -d)
trap 'rm -rf "$dir"; psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1' EXIT
out=$("$tandem" demo --records 3000 --seconds-per-step 0.5 --threads 3 --dir "$dir" --new "${admin%/*}/$db" 2>&1)
rc=$?
echo "$out"
[[ $rc -eq 0 ]] || { echo "tandem demo exited with $rc"; exit 1; }
grep -q "CHECK PASSED" <<<"$out" || { echo "no CHECK PASSED"; exit 1; }
grep -q "lost writes 0, zombies 0" <<<"$out" || { echo "lost writes or zombies"; exit 1; }
