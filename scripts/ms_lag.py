"""Samples a master/slave pair's replication lag (master CommitLog end minus the slave's) every
100 ms until stopped (SIGTERM/SIGINT), then prints one JSON line with p50/p99/max in bytes.
    python3 scripts/ms_lag.py MASTER_ADDR SLAVE_ADDR CONFIG"""
import json
import signal
import socket
import struct
import sys
import time

RUNTIME_INFO = 28


def runtime(address):
    host, port = address.rsplit(":", 1)
    header = json.dumps({"code": RUNTIME_INFO, "language": "JAVA", "version": 0, "opaque": 1, "flag": 0,
                         "extFields": {}}).encode()
    with socket.create_connection((host, int(port)), timeout=2) as s:
        s.sendall(struct.pack(">ii", 4 + len(header), len(header)) + header)
        def exact(n):
            data = b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                if not chunk:
                    raise OSError("closed")
                data += chunk
            return data
        length = struct.unpack(">i", exact(4))[0]
        frame = exact(length)
        header_length = struct.unpack(">i", frame[:4])[0] & 0xFFFFFF
        return json.loads(frame[4 + header_length:])["table"]


master, slave, config = sys.argv[1], sys.argv[2], sys.argv[3]
running = [True]
signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
signal.signal(signal.SIGINT, lambda *_: running.__setitem__(0, False))
lags = []
while running[0]:
    try:
        slave_end = int(runtime(slave)["commitLogMaxOffset"])
        lags.append(max(0, int(runtime(master)["commitLogMaxOffset"]) - slave_end))
    except (OSError, ValueError, KeyError):
        pass
    time.sleep(0.1)
lags.sort()
pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] if lags else None  # noqa: E731
print(json.dumps({"mode": "ms-lag", "config": config, "samples": len(lags), "lag_p50_bytes": pick(0.5),
                  "lag_p99_bytes": pick(0.99), "lag_max_bytes": lags[-1] if lags else None}))
