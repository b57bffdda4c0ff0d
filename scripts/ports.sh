# Port helpers for the scripts (sourced).

# Waits up to 10 s for 127.0.0.1:$1 to accept connections.
wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open; see the logs" >&2
    return 1
}

# Stops the process in pidfile $1: SIGTERM, retried, then SIGKILL.
stop_pid() {
    local pidfile=$1 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    for _ in 1 2 3 4; do
        kill -TERM "$pid" 2>/dev/null || break
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break 2; sleep 0.1; done
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    echo "stopped $(basename "$pidfile" .pid) ($pid)"
    rm -f "$pidfile"
}
