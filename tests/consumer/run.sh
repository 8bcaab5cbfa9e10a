#!/usr/bin/env bash
# Installs a built tandem into a temporary prefix, builds tests/consumer against
# it twice, with the CMake package and with pkg-config, each linking only the
# core (SQLite) and every component, and runs the four programs. The core-only
# programs must not need libpq or Connector/C (ldd).
# Usage: run.sh BUILD_DIR [EXTRA_CXX_FLAGS]   (the flags of the build, e.g. sanitizers)
set -euo pipefail
build="$1"
flags="${2:-}"
here="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null 2>"$work/install.log" || {
  cat "$work/install.log"
  exit 1
}

echo "== CMake package (find_package(tandem CONFIG))"
cmake -S "$here" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work/cmake-build" >/dev/null

echo "== pkg-config"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$(ls -d "$work"/prefix/lib/*/pkgconfig 2>/dev/null | head -1)"
mkdir -p "$work/pc-build"
# shellcheck disable=SC2046,SC2086
g++ -std=c++20 $flags "$here/consumer.cc" -o "$work/pc-build/consumer_core" $(pkg-config --cflags --libs tandem-core)
# shellcheck disable=SC2046,SC2086
g++ -std=c++20 $flags "$here/consumer.cc" -o "$work/pc-build/consumer_all" $(pkg-config --cflags --libs tandem)

status=0
for program in cmake-build/consumer_core cmake-build/consumer_all pc-build/consumer_core pc-build/consumer_all; do
  kind=${program##*_}
  run="$work/run-${program//\//-}"
  mkdir -p "$run"
  if ! "$work/$program" "$run" "$kind"; then
    echo "FAILED: $program"
    status=1
  fi
  if [[ $kind == core ]] && ldd "$work/$program" | grep -E 'libpq|libmariadb'; then
    echo "FAILED: $program links a server client library though it links only tandem's core"
    status=1
  fi
done
exit $status
