#!/usr/bin/env bash
# Installs what tandem needs (Debian 12, as root), builds it in Release and runs
# `tandem demo`: a live migration on the embedded default (SQLite), no server.
# Extra arguments go to the demo, e.g. scripts/quickstart.sh --records 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_packages build
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-release -j2
exec ./build-release/tandem demo "$@"
