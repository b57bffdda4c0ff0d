#!/usr/bin/env bash
# A NameServer and a 3-node DLedger group on 127.0.0.1 from conf/dledger, as RocketMQ's
# bin/dledger/fast-try.sh: `start` builds (release) and launches them, `stop` stops them
# (SIGTERM, retried, then SIGKILL). Data and logs go to run/.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/ports.sh

confs=(conf/dledger/broker-n0.conf conf/dledger/broker-n1.conf conf/dledger/broker-n2.conf)
ports=(30911 30921 30931)

start() {
    for conf in "${confs[@]}"; do
        [ -f "$conf" ] || { echo "missing $conf" >&2; exit 1; }
    done
    start_local_namesrv
    for n in 0 1 2; do
        echo "== starting mqbroker n$n (RaftNode00, 127.0.0.1:${ports[$n]}, DLedger peer port $((40911 + n)))"
        nohup "$bin/mqbroker" -c "${confs[$n]}" > "run/dledger-n$n.log" 2>&1 &
        echo $! > "run/dledger-n$n.pid"
    done
    for port in "${ports[@]}"; do wait_port "$port"; done
    echo "== waiting for the group to elect a master"
    for _ in $(seq 1 100); do
        if "$bin/mqadmin" clusterList -n 127.0.0.1:9876 2>/dev/null | awk '$3 == "0" && $5 ~ /MASTER/' | grep -q .; then
            "$bin/mqadmin" clusterList -n 127.0.0.1:9876
            return 0
        fi
        sleep 0.1
    done
    echo "no master after 10 s; see run/dledger-n*.log" >&2
    return 1
}

stop() {
    for n in 0 1 2; do stop_pid "run/dledger-n$n.pid"; done
    stop_pid run/namesrv.pid
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
