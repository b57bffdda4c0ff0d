"""mqbench w3 against two masters: the broker that acknowledged last is SIGKILLed under a paced
load, the producer fails over to the other, the killed one is restarted from its data, and every
acknowledged id is read back."""
import json
import os
import signal
import subprocess

from harness import BIN_DIR, Cluster, free_port, invoke, wait_until


def runtime_pid(address):
    try:
        response = invoke(address, 28, timeout=2)
        return int(json.loads(response.body)["table"]["pid"])
    except (OSError, ValueError, KeyError):
        return None


def test_w3_kills_restarts_and_loses_no_acknowledged_message():
    c = Cluster(broker_overrides={"flushDiskType": "ASYNC_FLUSH"}).start()
    second_port = free_port()
    _, second = c.broker_process("broker-b", second_port, "store-b", "broker-b")
    addresses = [c.broker_addr, "127.0.0.1:%d" % second_port]
    try:
        second.start()
        wait_until(lambda: runtime_pid(addresses[1]) is not None, 30, message="second broker")
        run = subprocess.run(
            [os.path.join(BIN_DIR, "mqbench"), "w3", "-n", c.namesrv_addr, "--topic", "w3bench", "--reps", "2",
             "--secs", "5", "--kill-at", "1.5", "--rate", "500", "--config", "two-masters-async"],
            capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, run.stdout + run.stderr
        lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        reps = [line for line in lines if line["mode"] == "w3"]
        assert len(reps) == 2, run.stdout
        for rep in reps:
            assert rep["killed"] and rep["lost_acked"] == 0, rep
            assert rep["acked"] >= 0.9 * rep["sent"], rep
            assert rep["unavail_ms"] is not None and rep["unavail_ms"] < 3000, rep
        verify = [line for line in lines if line["mode"] == "verify"]
        assert verify and verify[0]["lost_acked"] == 0 and verify[0]["acked"] == sum(r["acked"] for r in reps)
    finally:
        # Restarted brokers belong to no one here: find them by the pid they report.
        for address in addresses:
            pid = runtime_pid(address)
            if pid:
                os.kill(pid, signal.SIGKILL)
        second.kill()
        c.cleanup()
