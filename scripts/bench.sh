#!/usr/bin/env bash
# The benchmark workload (../shared/docs/benchmark-workload.md) with mqbench, release builds, data
# in a temporary directory:
#   W1 at windows 1/64/256 and W2 unthrottled and at 2,000 msgs/s against one broker, REPS
#   repetitions interleaved (rep 1: W1 1, 64, 256, W2 max, W2 2000; rep 2: ...), then W3 (SIGKILL
#   of the acknowledging broker under a paced load, 3 kills) against two masters; then the same
#   W1/W2 runs and W3 against a 3-node DLedger group from conf/dledger, with ASYNC_FLUSH
#   (config dledger3-async) and SYNC_FLUSH (dledger3-sync); then W1/W2 against a master/slave pair
#   from conf/2m-2s-sync (ms-sync) and conf/2m-2s-async (ms-async), sampling the slave's
#   replication lag during W2.
# BENCH_CONFIGS limits the configs run (default: "single dledger3-async dledger3-sync ms-sync
# ms-async"; single includes W3 against two masters). BENCH_SERIALIZE_TYPE=ROCKETMQ makes mqbench's
# requests use RocketMQ's binary headers (default JSON, as the stock clients).
# Prints mqbench's live lines, every JSON line (also kept in $dir/results.jsonl) and a table of
# medians.
#   scripts/bench.sh [seconds per W1 run (30)] [repetitions (3)] [w3 seconds (20)]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ports.sh
secs="${1:-30}"
reps="${2:-3}"
w3_secs="${3:-20}"
for product in mqnamesrv mqbroker mqbench mqadmin; do
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
    echo "haListenPort=$(free_port)" >> "$dir/$1.conf"
    "$bin/mqbroker" -c "$dir/$1.conf" >> "$dir/$1.log" 2>&1 &
    echo $! > "$dir/$1.pid"
    wait_port "$port"
}

run() {
    "$bin/mqbench" "$@" -n "127.0.0.1:$ns_port" --serialize-type "${BENCH_SERIALIZE_TYPE:-JSON}" | tee -a "$dir/out.txt" |
        grep -v '^{' || true
}
configs=" ${BENCH_CONFIGS:-single dledger3-async dledger3-sync ms-sync ms-async} "
wanted() { [[ "$configs" == *" $1 "* ]]; }
stop_brokers() {
    pkill -f "$dir/$1" 2>/dev/null || true
    while pgrep -f "$dir/$1" > /dev/null; do sleep 0.1; done
}

if wanted single; then
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

# W3 needs somewhere to fail over to: a second master.
start_broker broker-b
sleep 1
run w3 --reps 3 --secs "$w3_secs" --config two-masters-async --server-pids "$(cat "$dir/namesrv.pid")"
# W3 restarted brokers with new pids: stop them by their config paths.
stop_brokers broker-
fi

# A 3-node DLedger group from conf/dledger on free ports, flushDiskType $1, data in $dir/$2.
start_dledger_group() {
    local flush=$1 stem=$2 peers="" ports=() n
    for n in 0 1 2; do peers="${peers:+$peers;}n$n-127.0.0.1:$(free_port)"; ports+=("$(free_port)"); done
    for n in 0 1 2; do
        sed -e "s|^listenPort=.*|listenPort=${ports[$n]}|" -e "s|^namesrvAddr=.*|namesrvAddr=127.0.0.1:$ns_port|" \
            -e "s|^brokerName=.*|brokerName=$stem|" -e "s|^dLegerGroup=.*|dLegerGroup=$stem|" \
            -e "s|^dLegerPeers=.*|dLegerPeers=$peers|" \
            -e "s|^storePathRootDir=.*|storePathRootDir=$dir/$stem-n$n|" \
            -e "s|^storePathCommitLog=.*|storePathCommitLog=$dir/$stem-n$n/commitlog|" \
            "conf/dledger/broker-n$n.conf" > "$dir/$stem-n$n.conf"
        echo "flushDiskType=$flush" >> "$dir/$stem-n$n.conf"
        "$bin/mqbroker" -c "$dir/$stem-n$n.conf" >> "$dir/$stem-n$n.log" 2>&1 &
        echo $! > "$dir/$stem-n$n.pid"
    done
    for n in 0 1 2; do wait_port "${ports[$n]}"; done
    for _ in $(seq 1 100); do
        "$bin/mqadmin" clusterList -n "127.0.0.1:$ns_port" 2>/dev/null | awk -v g="$stem" '$2 == g && $3 == "0"' | grep -q . && break
        sleep 0.1
    done
}

for flush in ASYNC_FLUSH SYNC_FLUSH; do
    case $flush in ASYNC_FLUSH) config=dledger3-async ;; *) config=dledger3-sync ;; esac
    wanted "$config" || continue
    start_dledger_group "$flush" "$config"
    pids="$(cat "$dir/$config-n0.pid"),$(cat "$dir/$config-n1.pid"),$(cat "$dir/$config-n2.pid"),$(cat "$dir/namesrv.pid")"
    for rep in $(seq 1 "$reps"); do
        for window in 1 64 256; do
            run w1 --window "$window" --secs "$secs" --rep "$rep" --config "$config" --server-pids "$pids"
        done
        run w2 --secs 15 --rep "$rep" --config "$config" --server-pids "$pids"
    done
    run w3 --reps 3 --secs "$w3_secs" --config "$config" --server-pids "$(cat "$dir/namesrv.pid")"
    stop_brokers "$config-"
done

# A master and its slave from conf/2m-2s-$1 (broker-a, broker-a-s) on free ports, data in $dir/$2.
start_master_slave() {
    local mode=$1 stem=$2 file port
    for file in broker-a broker-a-s; do
        port=$(free_port)
        sed -e "s|^listenPort=.*|listenPort=$port|" -e "s|^haListenPort=.*|haListenPort=$(free_port)|" \
            -e "s|^namesrvAddr=.*|namesrvAddr=127.0.0.1:$ns_port|" -e "s|^brokerName=.*|brokerName=$stem|" \
            -e "s|^storePathRootDir=.*|storePathRootDir=$dir/$stem-$file|" \
            -e "s|^storePathCommitLog=.*|storePathCommitLog=$dir/$stem-$file/commitlog|" \
            "conf/2m-2s-$mode/$file.properties" > "$dir/$stem-$file.conf"
        "$bin/mqbroker" -c "$dir/$stem-$file.conf" >> "$dir/$stem-$file.log" 2>&1 &
        echo $! > "$dir/$stem-$file.pid"
        echo "127.0.0.1:$port" > "$dir/$stem-$file.addr"
        wait_port "$port"
    done
    for _ in $(seq 1 100); do grep -q "connected to master" "$dir/$stem-broker-a-s.log" && break; sleep 0.1; done
}

for mode in sync async; do
    config=ms-$mode
    wanted "$config" || continue
    start_master_slave "$mode" "$config"
    pids="$(cat "$dir/$config-broker-a.pid"),$(cat "$dir/$config-broker-a-s.pid"),$(cat "$dir/namesrv.pid")"
    for rep in $(seq 1 "$reps"); do
        for window in 1 64 256; do
            run w1 --window "$window" --secs "$secs" --rep "$rep" --config "$config" --server-pids "$pids"
        done
        python3 scripts/ms_lag.py "$(cat "$dir/$config-broker-a.addr")" "$(cat "$dir/$config-broker-a-s.addr")" \
            "$config" >> "$dir/out.txt" &
        sampler=$!
        run w2 --secs 15 --rep "$rep" --config "$config" --server-pids "$pids"
        kill -TERM "$sampler"
        wait "$sampler" || true
    done
    stop_brokers "$config-"
done

grep '^{' "$dir/out.txt" > "$dir/results.jsonl" || true
cat "$dir/results.jsonl"
python3 - "$dir/results.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def median(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    value = statistics.median(values)
    return round(value) if abs(value) >= 100 else round(value, 3)
groups = {}
for row in rows:
    if row["mode"] in ("w1", "w2"):
        groups.setdefault((row.get("config", ""), row["mode"], row["window"], str(row["rate"])), []).append(row)
print("\nmedians of %d repetition(s)" % max((len(g) for g in groups.values()), default=0))
def us_per_msg(row, key):
    # CPU µs per message sent: percent of one core over messages per second.
    if not row.get("msgs_per_s") or row.get(key) is None:
        return None
    return row[key] * 1e4 / row["msgs_per_s"]
print("%-15s %-4s %-6s %-5s %10s %8s %8s %9s %9s %8s %-22s %8s %8s %10s %10s" % (
    "config", "mode", "window", "rate", "msgs/s", "p50 ms", "p99 ms", "consumed", "e2e p99", "broker%",
    "per process%", "bench%", "other%", "server us", "bench us"))
for (config, mode, window, rate), group in sorted(groups.items()):
    m = lambda key: median([r.get(key) for r in group])
    each = [median([r["server_cpu_pct_each"][i] for r in group if len(r.get("server_cpu_pct_each") or []) > i])
            for i in range(max(len(r.get("server_cpu_pct_each") or []) for r in group))]
    print("%-15s %-4s %-6s %-5s %10s %8s %8s %9s %9s %8s %-22s %8s %8s %10s %10s" % (
        config, mode, window, rate, m("msgs_per_s"), m("ack_p50_ms"), m("ack_p99_ms"), m("consume_msgs_per_s"),
        m("e2e_p99_ms"), m("server_cpu_pct"), "/".join("%g" % v for v in each), m("loadgen_cpu_pct"),
        m("other_cpu_pct"), median([us_per_msg(r, "server_cpu_pct") for r in group]),
        median([us_per_msg(r, "loadgen_cpu_pct") for r in group])))
print("(per process: the --server-pids in order: brokers, then the NameServer; server us and bench us: CPU")
print(" microseconds per message sent, all server processes together, and mqbench's)")
# The peers' figures and our targets (../shared/docs/benchmark-workload.md, issue 14), msgs/s.
print("\npeers and targets (W1 window 1 / 64 / 256, W2 consumed/s):")
for line in (
    "single-async    target >= 8,000 / 100,000 / 120,000 / 60,000   NATS R1 8,317 / 96,595 / 120,072 / 52,035",
    "dledger3-async  target >= 6,000 / 60,000 / 100,000 / 50,000    NATS R3 2,977 / 27,111 / 35,368 / 25,327",
    "dledger3-sync   target >= 2,000 / 25,000 / 35,000 / 25,000     RabbitMQ quorum 1,014 / 11,668 / 15,845 / 10,250",
):
    print("  " + line)
for row in rows:
    if row["mode"] == "ms-lag":
        print("%s slave lag during W2: p50 %s B, p99 %s B, max %s B (%s samples)" % (
            row["config"], row["lag_p50_bytes"], row["lag_p99_bytes"], row["lag_max_bytes"], row["samples"]))
for row in rows:
    if row["mode"] in ("w3", "verify"):
        print("%s %s rep %s: acked %s, unavailable %s ms, longest ack gap %s ms, lost %s, duplicates %s" % (
            row.get("config", ""), row["mode"], row["rep"], row.get("acked"), row.get("unavail_ms"),
            row.get("max_ack_gap_after_kill_ms"), row.get("lost_acked"), row.get("duplicates")))
EOF
