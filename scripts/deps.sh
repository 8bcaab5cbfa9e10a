# Sourced by quickstart.sh and test.sh: installs the Debian 12 packages tandem
# needs, only those missing, so that a second run needs no network.
# Usage: install_packages build|test|bench

BUILD_PACKAGES=(build-essential cmake ninja-build pkg-config libsqlite3-dev libtomlplusplus-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libxxhash-dev libpq-dev libmariadb-dev libsimdjson-dev
  libcpp-httplib-dev libssl-dev)
BENCH_PACKAGES=(libbenchmark-dev postgresql mariadb-server pgloader time)
TEST_PACKAGES=(libgtest-dev libgmock-dev clang clang-format clang-tidy postgresql mariadb-server openssl spin python3 sqlite3 chromium curl
  libbenchmark-dev pgloader time)

install_packages() {
  local wanted=("${BUILD_PACKAGES[@]}")
  if [[ "${1:-build}" == test ]]; then wanted+=("${TEST_PACKAGES[@]}"); fi
  if [[ "${1:-build}" == bench ]]; then wanted+=("${BENCH_PACKAGES[@]}"); fi
  local missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then return 0; fi
  echo "installing Debian packages: ${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then sudo=(sudo); else
      echo "error: packages missing (${missing[*]}) and not root; run as root or install them" >&2
      return 1
    fi
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
