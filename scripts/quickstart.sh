#!/usr/bin/env bash
# Builds mqnamesrv and mqbroker, starts a NameServer and one broker on 127.0.0.1 from conf/,
# then sends and receives messages with the stock RocketMQ client to show it working.
# The cluster keeps running; stop it with scripts/stop.sh. Data and logs go to run/.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/deps.sh
source scripts/ports.sh
ensure_deps
echo "== building (release)"
swift build -c release --product mqnamesrv >/dev/null
swift build -c release --product mqbroker >/dev/null
swift build -c release --product mqadmin >/dev/null
bin="$(swift build -c release --show-bin-path)"
mkdir -p run
./scripts/stop.sh >/dev/null 2>&1 || true


echo "== starting mqnamesrv on 127.0.0.1:9876"
nohup "$bin/mqnamesrv" -c conf/namesrv.conf > run/namesrv.log 2>&1 &
echo $! > run/namesrv.pid
wait_port 9876
echo "== starting mqbroker broker-a on 127.0.0.1:10911"
nohup "$bin/mqbroker" -c conf/broker.conf > run/broker-a.log 2>&1 &
echo $! > run/broker-a.pid
wait_port 10911

echo "== sending and receiving with the stock client (rocketmq==0.4.4)"
HOME="$PWD/run/client-home" python3 scripts/demo.py 127.0.0.1:9876
echo
echo "Cluster is running: NameServer 127.0.0.1:9876, broker-a 127.0.0.1:10911 (logs in run/)."
echo "Try: $bin/mqadmin clusterList -n 127.0.0.1:9876"
echo "Stop it with: scripts/stop.sh"
