#!/usr/bin/env bash
# Second README command: installs what the tests need (Debian packages), builds,
# and runs every test: cmocka unit tests, the same under ASan+UBSan, a replay of
# every fuzz corpus, and the pytest scenario tests. Exit status 0 = all passed.
set -euo pipefail
cd "$(dirname "$0")"

bash scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

make -j"$jobs" all
make -j"$jobs" unit
make -j"$jobs" unit-san
make -j"$jobs" fuzz-replay
make e2e
echo "all tests passed"
