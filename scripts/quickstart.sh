#!/usr/bin/env bash
# Builds the binaries, starts a NameServer and a 3-node DLedger group on 127.0.0.1 from
# conf/dledger (scripts/dledger/fast-try.sh), then shows it working with the stock RocketMQ
# client: clusterList with the leader as BID 0, a send and a receive, a kill -9 of the leader,
# the new leader, and sends through it. The group keeps running; stop it with scripts/stop.sh.
# Data and logs go to run/.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/deps.sh
source scripts/ports.sh
ensure_deps
./scripts/stop.sh >/dev/null 2>&1 || true
./scripts/dledger/fast-try.sh start
bin="$(swift build -c release --show-bin-path)"
master() { "$bin/mqadmin" clusterList -n 127.0.0.1:9876 | awk '$3 == "0" {print $4}'; }

echo
echo "== sending and receiving with the stock client (rocketmq==0.4.4)"
HOME="$PWD/run/client-home" python3 scripts/demo.py 127.0.0.1:9876

leader=$(master)
n=$(( (${leader##*:} - 30911) / 10 ))
echo
echo "== kill -9 of the leader n$n ($leader)"
start=$(date +%s%N)
kill -9 "$(cat "run/dledger-n$n.pid")"
rm -f "run/dledger-n$n.pid"
for _ in $(seq 1 500); do
    now=$(master || true)
    [ -n "$now" ] && [ "$now" != "$leader" ] && break
    sleep 0.01
done
echo "new master $(master) registered $(( ($(date +%s%N) - start) / 1000000 )) ms after the kill"
"$bin/mqadmin" clusterList -n 127.0.0.1:9876

echo
echo "== sending and receiving through the new leader"
HOME="$PWD/run/client-home" python3 scripts/demo.py 127.0.0.1:9876

echo
echo "== restarting n$n: it rejoins as a follower and catches up"
nohup "$bin/mqbroker" -c "conf/dledger/broker-n$n.conf" >> "run/dledger-n$n.log" 2>&1 &
echo $! > "run/dledger-n$n.pid"
wait_port $(( 30911 + n * 10 ))
for _ in $(seq 1 100); do
    [ "$("$bin/mqadmin" clusterList -n 127.0.0.1:9876 | grep -c RaftNode00)" = 3 ] && break
    sleep 0.1
done
"$bin/mqadmin" clusterList -n 127.0.0.1:9876
echo
echo "The group is running: NameServer 127.0.0.1:9876, brokers 127.0.0.1:30911/30921/30931 (logs in run/)."
echo "Stop it with: scripts/stop.sh (or scripts/dledger/fast-try.sh stop)"
