#!/usr/bin/env bash
# Checks model/protocol.pml exhaustively with spin: the protocol must hold,
# and every deliberately broken variant must be refuted with a counterexample
# (so we know the check can fail). Prints one line per variant.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
check() {  # check VARIANT EXPECT(holds|refuted)
  local variant="$1" expect="$2" defines=()
  # VARIANT may combine defines: A+B.
  if [[ "$variant" != correct ]]; then
    IFS=+ read -ra parts <<<"$variant"
    for part in "${parts[@]}"; do defines+=("-D$part"); done
  fi
  rm -f pan pan.* *.trail
  spin "${defines[@]}" -a "$root/model/protocol.pml" >/dev/null
  gcc -O2 -DSAFETY -o pan pan.c 2>/dev/null
  local out errors states
  out=$(./pan -m10000 2>&1)
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out" | head -1)
  states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' <<<"$out" | head -1)
  if [[ "$expect" == holds && "$errors" == 0 ]]; then
    echo "model $variant: holds ($states states, exhaustive)"
  elif [[ "$expect" == refuted && "$errors" != 0 ]]; then
    echo "model $variant: refuted as expected ($errors counterexample)"
  else
    echo "model $variant: expected $expect, spin found $errors errors"
    echo "$out"
    [[ -f protocol.pml.trail ]] && spin "${defines[@]}" -t -p "$root/model/protocol.pml" | head -60
    return 1
  fi
}
check correct holds
check NO_WINDOW_EXCUSE refuted
check BROKEN_NO_TOMBSTONE refuted
check BROKEN_UPSERT refuted
check BROKEN_REPLAY refuted
check NO_WINDOW45_EXCUSE refuted
check BROKEN_NO_LEASE+BROKEN_NO_FENCE refuted
check BROKEN_LEASE_AGE_ONLY+BROKEN_NO_FENCE refuted
check BROKEN_NO_LEASE holds
check BROKEN_COPY_NO_LOCK refuted
check BROKEN_NO_FENCE refuted
