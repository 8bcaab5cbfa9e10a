#!/usr/bin/env bash
# Builds tandem in Release from this checkout, without the test-only parts, and
# makes the Debian package with CPack: build-package/tandem_VERSION_ARCH.deb,
# whose dependencies are Debian's package names (dpkg-shlibdeps).
# Install it with: apt-get install ./build-package/tandem_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_packages build
cmake -S . -B build-package -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-package -j2
(cd build-package && cpack -G DEB >/dev/null)
ls build-package/tandem_*.deb
