#!/usr/bin/env bash
# The demo end to end, small: exits 0 and prints a passed check.
set -euo pipefail
tandem="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$("$tandem" demo --records 3000 --seconds-per-step 0.5 --threads 3 --dir "$dir" 2>&1)
echo "$out"
grep -q "CHECK PASSED" <<<"$out"
grep -q "lost writes 0, zombies 0" <<<"$out"
"$tandem" --config "$dir/tandem.toml" status | grep -q "step: *7 of 7"
