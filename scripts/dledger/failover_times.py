"""Server-side failover times of a 3-node DLedger group (real processes, release binaries):
kill -9 (then SIGSTOP) of the leader, time from the signal until the NameServer names another
master, and the stock client's write gap (last ack before the signal to the first after).

    python3 scripts/dledger/failover_times.py [--kills 20] [--stops 20] [--stop-secs 3] [--sync]

Prints one line per round and the p50/max of each series."""
import argparse
import os
import signal
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "e2e"))
os.environ.setdefault("HOME", "/tmp/rmq-failover-home")
os.makedirs(os.environ["HOME"], exist_ok=True)

from clients import SendStatus, message, producer  # noqa: E402
from harness import DLedgerGroup, wait_until  # noqa: E402


class Load:
    """A stock producer sending continuously; keeps the time of every acknowledgement."""

    def __init__(self, group):
        self.producer = producer(group, "PG_failover_times", timeout=1000)
        self.acks = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                if self.producer.send_sync(message("FailoverTimes", "m%d" % i)).status == SendStatus.OK:
                    self.acks.append(time.time())
            except Exception:
                time.sleep(0.005)

    def gap_around(self, at, timeout=60):
        wait_until(lambda: any(t > at for t in self.acks), timeout, interval=0.01, message="an ack after the fault")
        before = max([t for t in self.acks if t <= at], default=at)
        after = min(t for t in self.acks if t > at)
        return (after - before) * 1000


def master_change(group, old, started):
    while True:
        now = group.master_addr()
        if now not in (None, old):
            return (time.time() - started) * 1000, now
        time.sleep(0.002)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--stop-secs", type=float, default=3)
    parser.add_argument("--sync", action="store_true", help="flushDiskType=SYNC_FLUSH (default ASYNC_FLUSH)")
    args = parser.parse_args()
    group = DLedgerGroup(broker_overrides={"flushDiskType": "SYNC_FLUSH" if args.sync else "ASYNC_FLUSH"}).start()
    load = Load(group)
    series = {"kill": [], "kill-gap": [], "stop": [], "stop-gap": []}
    try:
        wait_until(lambda: len(load.acks) > 100, 30, message="traffic")
        for kind, rounds in (("kill", args.kills), ("stop", args.stops)):
            for round_number in range(1, rounds + 1):
                old = group.wait_master()
                victim = group.index_of(old)
                started = time.time()
                group.brokers[victim].proc.send_signal(signal.SIGKILL if kind == "kill" else signal.SIGSTOP)
                millis, new = master_change(group, old, started)
                if kind == "kill":
                    group.brokers[victim].proc.wait()
                    gap = load.gap_around(started)  # before the victim is back (it would forward)
                    group.restart(victim)
                else:
                    time.sleep(args.stop_secs)
                    group.brokers[victim].proc.send_signal(signal.SIGCONT)
                    gap = load.gap_around(started)
                series[kind].append(millis)
                series[kind + "-gap"].append(gap)
                print("%s %2d: n%d -> %s, new master after %.0f ms, stock client write gap %.0f ms" % (
                    kind, round_number, victim, new, millis, gap), flush=True)
                # Whole again before the next round: every member back and caught up.
                wait_until(lambda: len(set(group.runtime(n)["dLegerCommittedIndex"] for n in range(3))) == 1,
                           60, message="every member caught up")
                before = len(load.acks)
                wait_until(lambda: len(load.acks) > before + 50, 60, message="traffic after the round")
    finally:
        load.stop.set()
        group.cleanup()
    for name, values in series.items():
        if values:
            print("%-9s n=%d p50=%.0f ms max=%.0f ms" % (name, len(values), statistics.median(values), max(values)))
    os._exit(0)


if __name__ == "__main__":
    main()
