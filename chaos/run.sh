#!/usr/bin/env bash
# The chaos harness: a real DLedger cluster in a private network namespace, a recorded
# workload, faults on a seeded schedule, and the history checker.
#
#   chaos/run.sh [--cycles N] [--faults kill,pause,partition,...] [--seed S] [--out DIR] [runner options]
#
# Needs root (network namespace, nftables, tmpfs mounts). Installs its tools from Debian's
# packages, builds the binaries (release unless CHAOS_CONFIGURATION=debug), runs the runner
# inside the namespace and deletes the namespace afterwards, whatever happened. Every process
# the runner starts is stopped by pid; its rules die with the namespace, its mounts with the
# namespace's mount namespace. The runner's last line is the JSON summary; the exit status is
# non-zero on any violation. `chaos/run.sh --help` lists the runner's options.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "chaos/run.sh needs root: it creates a network namespace, firewall rules and tmpfs mounts" >&2
    exit 2
fi

# The tools the faults use (Debian's packages): nftables for partitions and loss, libfaketime
# for clock skew, libfiu for fsync errors, iptables + libnetfilter-queue for the packet
# delayer (this kernel has no netem), librsvg2-bin for the PNG timeline.
missing=()
command -v nft >/dev/null || missing+=(nftables)
command -v iptables >/dev/null || missing+=(iptables)
[ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ] || missing+=(libnetfilter-queue-dev)
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1 ] || missing+=(libfaketime)
command -v fiu-run >/dev/null || missing+=(fiu-utils libfiu0)
command -v rsvg-convert >/dev/null || missing+=(librsvg2-bin)
if [ ${#missing[@]} -gt 0 ]; then
    echo "chaos: installing ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null
fi

# The delayer's binding (PyPI; builds against libnetfilter-queue-dev).
python3 -c "import netfilterqueue" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check "netfilterqueue==1.1.0" ||
    echo "chaos: netfilterqueue did not install; the delay fault is unavailable" >&2

configuration="${CHAOS_CONFIGURATION:-release}"
swift build -c "$configuration" --product chaos 2>&1 | tail -n 1
swift build -c "$configuration" --product mqbroker 2>&1 | tail -n 1
swift build -c "$configuration" --product mqnamesrv 2>&1 | tail -n 1
bin="$(swift build -c "$configuration" --show-bin-path)"

namespace="rmq-chaos-$$"
ip netns add "$namespace"
cleanup() {
    # The runner stops what it started; should it have died, nothing it left may outlive the
    # namespace (deleting a namespace does not end its processes).
    ip netns pids "$namespace" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$namespace" 2>/dev/null || true
}
trap cleanup EXIT
ip -n "$namespace" link set lo up
status=0
ip netns exec "$namespace" "$bin/chaos" --bin-dir "$bin" "$@" || status=$?
exit "$status"
