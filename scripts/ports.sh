# Helpers for the scripts that start local clusters (sourced): ports, the NameServer, stopping.

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

# Installs what is missing, builds the release tools, sets $bin to their directory and starts
# mqnamesrv -c conf/namesrv.conf on 127.0.0.1:9876 (pid in run/namesrv.pid, log run/namesrv.log).
start_local_namesrv() {
    source scripts/deps.sh
    ensure_deps
    echo "== building (release)"
    for product in mqnamesrv mqbroker mqadmin; do swift build -c release --product "$product" >/dev/null; done
    bin="$(swift build -c release --show-bin-path)"
    mkdir -p run
    echo "== starting mqnamesrv on 127.0.0.1:9876"
    nohup "$bin/mqnamesrv" -c conf/namesrv.conf > run/namesrv.log 2>&1 &
    echo $! > run/namesrv.pid
    wait_port 9876
}
