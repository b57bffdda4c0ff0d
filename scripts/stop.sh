#!/usr/bin/env bash
# Stops what scripts/quickstart.sh started (graceful SIGTERM, then waits).
cd "$(dirname "$0")/.."
for pidfile in run/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        echo "stopped $(basename "$pidfile" .pid) ($pid)"
    fi
    rm -f "$pidfile"
done
