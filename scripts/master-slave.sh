#!/usr/bin/env bash
# A NameServer and two master/slave broker groups on 127.0.0.1 from conf/2m-2s-sync or
# conf/2m-2s-async (RocketMQ 4.x's classic HA): `sync start`, `async start`, `stop`.
# `start` builds (release), launches the NameServer, the two masters and their slaves, waits
# until each slave replicates, and prints clusterList. Data and logs go to run/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ports.sh

files=(broker-a broker-a-s broker-b broker-b-s)

start() {
    local mode=$1 dir="conf/2m-2s-$1"
    [ -d "$dir" ] || { echo "usage: $0 sync|async start" >&2; exit 2; }
    start_local_namesrv
    for file in "${files[@]}"; do
        local port
        port=$(awk -F= '$1 == "listenPort" {print $2}' "$dir/$file.properties")
        echo "== starting mqbroker $file ($(awk -F= '$1 == "brokerRole" {print $2}' "$dir/$file.properties"), 127.0.0.1:$port)"
        nohup "$bin/mqbroker" -c "$dir/$file.properties" > "run/ms-$file.log" 2>&1 &
        echo $! > "run/ms-$file.pid"
        wait_port "$port"
    done
    echo "== waiting for both slaves to replicate"
    for _ in $(seq 1 100); do
        if [ "$(grep -l "connected to master" run/ms-broker-a-s.log run/ms-broker-b-s.log 2>/dev/null | wc -l)" = 2 ] &&
            [ "$("$bin/mqadmin" clusterList -n 127.0.0.1:9876 2>/dev/null | grep -c broker-)" = 4 ]; then
            "$bin/mqadmin" clusterList -n 127.0.0.1:9876
            return 0
        fi
        sleep 0.1
    done
    echo "the slaves did not connect within 10 s; see run/ms-*.log" >&2
    return 1
}

stop() {
    for file in "${files[@]}"; do stop_pid "run/ms-$file.pid"; done
    stop_pid run/namesrv.pid
}

case "${1:-}:${2:-}" in
    sync:start | async:start) start "$1" ;;
    stop:* | sync:stop | async:stop) stop ;;
    *) echo "usage: $0 sync|async start, or $0 stop" >&2; exit 2 ;;
esac
