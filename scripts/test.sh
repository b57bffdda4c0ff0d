#!/usr/bin/env bash
# Runs every test: Swift unit tests, then the end-to-end suite with the stock RocketMQ client
# (PyPI rocketmq==0.4.4) against real mqnamesrv/mqbroker processes on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/deps.sh
ensure_deps pytest

echo "== swift format lint"
swift format lint --strict -r Sources Tests chaos/Sources chaos/Tests
echo "== swift build"
swift build 2>&1 | tail -n 3
echo "== swift test"
mkdir -p .build
status=0
swift test > .build/swift-test.log 2>&1 || status=$?
# Failures in full, then the runner's summary line.
grep -E "✘|error:|Test run with" .build/swift-test.log || tail -n 30 .build/swift-test.log
[ "$status" -eq 0 ] || exit "$status"
echo "== fuzz (libFuzzer: frames and header numbers)"
./scripts/fuzz.sh 20
echo "== chaos (short mix: kills, a pause, partitions, a machine crash on a follower)"
CHAOS_CONFIGURATION=debug chaos/run.sh --cycles 8 --seed "${CHAOS_SEED:-20261207}" --out .build/chaos-ci \
    --faults kill_leader,kill_follower,kill_majority,pause_leader,partition_leader,partition_one_way,partition_bridge,lose_unsynced \
    > .build/chaos-ci.log 2>&1 || { cat .build/chaos-ci.log; exit 1; }
grep -E "cycle [0-9]+ [a-z_]+:|^\{" .build/chaos-ci.log
echo "== end-to-end (stock C++ client)"
RMQ_BIN_DIR="$(swift build --show-bin-path)" python3 -m pytest -q -p no:cacheprovider Tests/e2e "$@"
