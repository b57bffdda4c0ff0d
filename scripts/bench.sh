#!/usr/bin/env bash
# The benchmark workload (../shared/docs/benchmark-workload.md) with mqbench, release builds, data
# in a temporary directory:
#   W1 at windows 1/64/256 and W2 unthrottled and at 2,000 msgs/s against one broker, REPS
#   repetitions interleaved (rep 1: W1 1, 64, 256, W2 max, W2 2000; rep 2: ...), then W3 (SIGKILL
#   of the acknowledging broker under a paced load, 3 kills) against two masters.
# Prints mqbench's live lines, every JSON line (also kept in $dir/results.jsonl) and a table of
# medians.
#   scripts/bench.sh [seconds per W1 run (30)] [repetitions (3)] [w3 seconds (20)]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ports.sh
secs="${1:-30}"
reps="${2:-3}"
w3_secs="${3:-20}"
for product in mqnamesrv mqbroker mqbench; do
    swift build -c release --product "$product" > /tmp/rmq-bench-build.log 2>&1 || { tail -n 30 /tmp/rmq-bench-build.log; exit 1; }
done
bin="$(swift build -c release --show-bin-path)"
dir="$(mktemp -d /tmp/rmq-bench-XXXXXX)"
cleanup() {
    # W3 restarts brokers itself: stop whatever runs from this directory.
    pkill -f "$dir/" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ns_port=$(free_port)
printf 'listenPort=%s\nbindAddress=127.0.0.1\nkvConfigPath=%s/kv.json\n' "$ns_port" "$dir" > "$dir/namesrv.conf"
"$bin/mqnamesrv" -c "$dir/namesrv.conf" > "$dir/namesrv.log" 2>&1 & echo $! > "$dir/namesrv.pid"
wait_port "$ns_port"

# Starts broker $1 (broker-a, broker-b) from conf/broker.conf on a free port; echoes its pid.
start_broker() {
    local port
    port=$(free_port)
    sed -e "s|^listenPort=.*|listenPort=$port|" -e "s|^brokerName=.*|brokerName=$1|" \
        -e "s|^namesrvAddr=.*|namesrvAddr=127.0.0.1:$ns_port|" \
        -e "s|^storePathRootDir=.*|storePathRootDir=$dir/store-$1|" conf/broker.conf > "$dir/$1.conf"
    "$bin/mqbroker" -c "$dir/$1.conf" >> "$dir/$1.log" 2>&1 &
    echo $! > "$dir/$1.pid"
    wait_port "$port"
}

run() { "$bin/mqbench" "$@" -n "127.0.0.1:$ns_port" | tee -a "$dir/out.txt" | grep -v '^{' || true; }

start_broker broker-a
sleep 1
pids="$(cat "$dir/broker-a.pid"),$(cat "$dir/namesrv.pid")"
for rep in $(seq 1 "$reps"); do
    for window in 1 64 256; do
        run w1 --window "$window" --secs "$secs" --rep "$rep" --server-pids "$pids"
    done
    run w2 --secs 15 --rep "$rep" --server-pids "$pids"
    run w2 --secs 15 --rate 2000 --rep "$rep" --server-pids "$pids"
done

# W3 needs somewhere to fail over to: a second master (replicated groups come with DLedger mode).
start_broker broker-b
sleep 1
run w3 --reps 3 --secs "$w3_secs" --config two-masters-async --server-pids "$(cat "$dir/namesrv.pid")"

grep '^{' "$dir/out.txt" > "$dir/results.jsonl" || true
cat "$dir/results.jsonl"
python3 - "$dir/results.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
groups = {}
for row in rows:
    if row["mode"] in ("w1", "w2"):
        groups.setdefault((row["mode"], row["window"], str(row["rate"])), []).append(row)
print("\nmedians of %d repetition(s)" % max((len(g) for g in groups.values()), default=0))
print("%-4s %-6s %-5s %10s %8s %8s %9s %9s %8s %8s %8s" % (
    "mode", "window", "rate", "msgs/s", "p50 ms", "p99 ms", "consumed", "e2e p99", "broker%", "bench%", "other%"))
for (mode, window, rate), group in sorted(groups.items()):
    m = lambda key: median([r.get(key) for r in group])
    print("%-4s %-6s %-5s %10s %8s %8s %9s %9s %8s %8s %8s" % (
        mode, window, rate, m("msgs_per_s"), m("ack_p50_ms"), m("ack_p99_ms"), m("consume_msgs_per_s"),
        m("e2e_p99_ms"), m("server_cpu_pct"), m("loadgen_cpu_pct"), m("other_cpu_pct")))
for row in rows:
    if row["mode"] in ("w3", "verify"):
        print("%s rep %s: acked %s, unavailable %s ms, longest ack gap %s ms, lost %s, duplicates %s" % (
            row["mode"], row["rep"], row.get("acked"), row.get("unavail_ms"),
            row.get("max_ack_gap_after_kill_ms"), row.get("lost_acked"), row.get("duplicates")))
EOF
