#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (with AddressSanitizer) and runs each for [secs] (30).
# A crash leaves its input in Fuzz/crashes/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
swift build --package-path Fuzz -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld 2>&1 | tail -n 1
mkdir -p Fuzz/corpus Fuzz/crashes
for target in FuzzRemotingFrame; do
    # The artifact is only written with Swift's backtracer off (fault-injection.md).
    SWIFT_BACKTRACE=enable=no "Fuzz/.build/release/$target" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix=Fuzz/crashes/ Fuzz/corpus Fuzz/seeds 2>&1 | grep -E "^(stat::number_of_executed_units|==|SUMMARY)|Done" || true
    if [ -n "$(ls -A Fuzz/crashes)" ]; then
        echo "fuzz: $target crashed, inputs in Fuzz/crashes/" >&2
        exit 1
    fi
done
