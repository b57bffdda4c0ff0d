#!/usr/bin/env bash
# Runs the benchmark workload (W1 at windows 1/64/256, W2 unthrottled and at 2,000 msgs/s) with
# mqbench against a fresh single-broker cluster (release builds, data in a temporary directory).
# Prints mqbench's live lines and one JSON line per run.
#   scripts/bench.sh [seconds per W1 run, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ports.sh
secs="${1:-30}"
swift build -c release --product mqnamesrv >/dev/null
swift build -c release --product mqbroker >/dev/null
swift build -c release --product mqbench >/dev/null
bin="$(swift build -c release --show-bin-path)"
dir="$(mktemp -d /tmp/rmq-bench-XXXXXX)"
trap 'kill $(cat "$dir"/*.pid 2>/dev/null) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$dir"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ns_port=$(free_port)
broker_port=$(free_port)
printf 'listenPort=%s\nbindAddress=127.0.0.1\nkvConfigPath=%s/kv.json\n' "$ns_port" "$dir" > "$dir/namesrv.conf"
sed -e "s|^listenPort=.*|listenPort=$broker_port|" -e "s|^namesrvAddr=.*|namesrvAddr=127.0.0.1:$ns_port|" \
    -e "s|^storePathRootDir=.*|storePathRootDir=$dir/store|" conf/broker.conf > "$dir/broker.conf"
"$bin/mqnamesrv" -c "$dir/namesrv.conf" > "$dir/namesrv.log" 2>&1 & echo $! > "$dir/namesrv.pid"
wait_port "$ns_port"
"$bin/mqbroker" -c "$dir/broker.conf" > "$dir/broker.log" 2>&1 & echo $! > "$dir/broker.pid"
wait_port "$broker_port"
sleep 1
pids="$(cat "$dir/broker.pid"),$(cat "$dir/namesrv.pid")"
for window in 1 64 256; do
    "$bin/mqbench" w1 -n "127.0.0.1:$ns_port" --window "$window" --secs "$secs" --server-pids "$pids"
done
"$bin/mqbench" w2 -n "127.0.0.1:$ns_port" --secs 15 --server-pids "$pids"
"$bin/mqbench" w2 -n "127.0.0.1:$ns_port" --secs 15 --rate 2000 --server-pids "$pids"
