#!/usr/bin/env bash
# The demo end to end, small: exits 0 and prints a passed check.
set -uo pipefail
tandem="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$("$tandem" demo --records 3000 --seconds-per-step 0.5 --threads 3 --dir "$dir" 2>&1)
rc=$?
echo "$out"
[[ $rc -eq 0 ]] || { echo "tandem demo exited with $rc"; exit 1; }
grep -q "CHECK PASSED" <<<"$out" || { echo "no CHECK PASSED"; exit 1; }
grep -q "lost writes 0, zombies 0" <<<"$out" || { echo "lost writes or zombies"; exit 1; }
"$tandem" --config "$dir/tandem.toml" status | grep -q "step: *7 of 7" || { echo "not at step 7"; exit 1; }
