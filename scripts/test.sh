#!/usr/bin/env bash
# Installs what the tests need (Debian 12, as root, database servers
# included), checks formatting, starts PostgreSQL on loopback on its own port
# with a fresh data directory (stopped on exit, also on failure), builds with
# AddressSanitizer and UndefinedBehaviorSanitizer and runs every test through
# CTest, then a clang build with -Wthread-safety -Werror and clang-tidy.
# TANDEM_SANITIZE=thread scripts/test.sh builds with ThreadSanitizer instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_packages test

echo "== format check (clang-format)"
mapfile -t sources < <(git ls-files '*.h' '*.cc' 2>/dev/null || find include src tests -name '*.h' -o -name '*.cc')
clang-format --dry-run --Werror "${sources[@]}"

sanitize="${TANDEM_SANITIZE:-address,undefined}"
build="build-${sanitize//,/-}"
echo "== build ($build, -fsanitize=$sanitize)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTANDEM_SANITIZE="$sanitize" \
  -DTANDEM_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j2

echo "== database servers"
source scripts/servers.sh
start_servers

echo "== tests"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
ctest --test-dir "$build" -j2 --output-on-failure --timeout 600

echo "== thread-safety analysis (clang -Wthread-safety -Werror, the library and programs)"
cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-Wthread-safety -Werror" -DBUILD_TESTING=OFF >/dev/null
cmake --build build-clang -j2

echo "== static analysis (clang-tidy, checks in .clang-tidy)"
set +e
# GCC-only flags of the sanitizer build (-Wno-restrict) are unknown to clang: not a finding.
tidy_output=$(git ls-files 'src/*.cc' 'tests/*.cc' |
  xargs -P2 -n4 clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option 2>&1)
tidy_status=$?
set -e
if ((tidy_status != 0)); then
  grep -A3 -E "(warning|error):" <<<"$tidy_output" || echo "$tidy_output"
  echo "clang-tidy found problems (above)"
  exit 1
fi
echo "clang-tidy: clean"
