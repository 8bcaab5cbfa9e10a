#!/usr/bin/env bash
# End to end between two engines: the live demo (workload through the router
# during the backfill, all seven steps, final check against the model) with
# old and new on the servers scripts/test.sh started (fails without them).
# Usage: cli_demo_pair.sh TANDEM OLD_ENGINE NEW_ENGINE [DEMO OPTIONS...]  (sqlite|postgres|mariadb)
# e.g. --old-documents: old keeps users as JSON documents mapped to new's columns.
set -uo pipefail
tandem="$1" old_engine="$2" new_engine="$3"
shift 3
extra=("$@")
dir=$(mktemp -d)
created=()

# fresh_database ENGINE ROLE: prints the URL of a new empty database.
fresh_database() {
  local engine="$1" db="tandem_e2e_$2_$$"
  case "$engine" in
    sqlite) echo "sqlite:$dir/$2.db" ;;
    postgres)
      [[ -n "${TANDEM_TEST_POSTGRES_URL:-}" ]] || { echo "TANDEM_TEST_POSTGRES_URL is not set: run scripts/test.sh" >&2; return 1; }
      psql "$TANDEM_TEST_POSTGRES_URL" -qc "CREATE DATABASE $db" >&2 || return 1
      created+=("postgres:$db")
      echo "${TANDEM_TEST_POSTGRES_URL%/*}/$db" ;;
    mariadb)
      [[ -n "${TANDEM_TEST_MARIADB_ROOT:-}" ]] || { echo "TANDEM_TEST_MARIADB_ROOT is not set: run scripts/test.sh" >&2; return 1; }
      $TANDEM_TEST_MARIADB_ROOT -e "CREATE DATABASE $db" >&2 || return 1
      created+=("mariadb:$db")
      echo "${TANDEM_TEST_MARIADB_URL%/*}/$db" ;;
    *) echo "unknown engine $engine" >&2; return 1 ;;
  esac
}

cleanup() {
  for c in "${created[@]}"; do
    case "$c" in
      postgres:*) psql "$TANDEM_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS ${c#*:} WITH (FORCE)" >/dev/null 2>&1 ;;
      mariadb:*) $TANDEM_TEST_MARIADB_ROOT -e "DROP DATABASE IF EXISTS ${c#*:}" >/dev/null 2>&1 ;;
    esac
  done
  rm -rf "$dir"
}
trap cleanup EXIT

# Not in a subshell: the created list must survive for cleanup.
fresh_database "$old_engine" old >"$dir/old.url" || exit 1
fresh_database "$new_engine" new >"$dir/new.url" || exit 1
args=(--records 3000 --seconds-per-step 0.5 --threads 3 --dir "$dir/demo" "${extra[@]}")
[[ "$old_engine" == sqlite ]] || args+=(--old "$(cat "$dir/old.url")")
[[ "$new_engine" == sqlite ]] || args+=(--new "$(cat "$dir/new.url")")
out=$("$tandem" demo "${args[@]}" 2>&1)
rc=$?
echo "$out"
[[ $rc -eq 0 ]] || { echo "tandem demo exited with $rc"; exit 1; }
grep -q "CHECK PASSED" <<<"$out" || { echo "no CHECK PASSED"; exit 1; }
grep -q "lost writes 0, zombies 0" <<<"$out" || { echo "lost writes or zombies"; exit 1; }
