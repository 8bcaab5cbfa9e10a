#!/usr/bin/env bash
# Installs what tandem needs (Debian 12, as root), builds it in Release, installs
# it (tandem and tandem-stress in /usr/local/bin, the library, headers, CMake
# package and pkg-config files under /usr/local; TANDEM_PREFIX=DIR for another
# prefix) and runs `tandem demo`: a live migration on the embedded default
# (SQLite), no server.
# Extra arguments go to the demo, e.g. scripts/quickstart.sh --records 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_packages build
prefix="${TANDEM_PREFIX:-/usr/local}"
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-release -j2
cmake --install build-release --prefix "$prefix" >/dev/null
if [[ "$(command -v tandem || true)" == "$prefix/bin/tandem" ]]; then
  echo "installed: tandem (on the PATH: $prefix/bin/tandem)"
else
  echo "installed: $prefix/bin/tandem (not on this PATH: run it by that path, or add $prefix/bin to PATH)"
fi
exec "$prefix/bin/tandem" demo "$@"
