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
source "$(dirname "$0")/e2e_databases.sh"

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
