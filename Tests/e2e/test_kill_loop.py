"""SIGKILL the broker at random moments while the stock client sends; nothing acknowledged is lost."""
import os
import random
import signal
import threading
import time

import pytest

from clients import SendStatus, message, producer
from harness import Cluster, read_all

KILLS = int(os.environ.get("RMQ_KILL_LOOPS", "20"))


@pytest.fixture
def kill_cluster():
    c = Cluster(broker_overrides={"flushDiskType": "ASYNC_FLUSH"}).start()
    yield c
    c.cleanup()


def test_sigkill_at_random_moments_loses_no_acknowledged_message(kill_cluster, unique):
    c = kill_cluster
    topic = "KillTopic_" + unique
    rng = random.Random(2026)
    p = producer(c, "PG_" + unique, timeout=1000)  # a send caught by the kill fails after 1 s, not 3
    acked = set()
    sequence = [0]

    def send_until(stop):
        while not stop.is_set():
            sequence[0] += 1
            body = "kill-%d" % sequence[0]
            try:
                if p.send_sync(message(topic, body, keys=body)).status == SendStatus.OK:
                    acked.add(body.encode())
            except Exception:
                time.sleep(0.05)  # broker down: the send failed, so nothing was promised

    for round_number in range(KILLS):
        stop = threading.Event()
        sender = threading.Thread(target=send_until, args=(stop,))
        sender.start()
        time.sleep(rng.uniform(0.2, 0.8))
        c.broker.kill(signal.SIGKILL)
        stop.set()
        c.start_broker()  # meanwhile the send in flight fails or times out
        sender.join(timeout=30)
        missing = acked - set(read_all(c, topic))
        assert not missing, "round %d: %d acknowledged messages lost, e.g. %s" % (
            round_number, len(missing), sorted(missing)[:5])
    p.shutdown()
    assert len(acked) > KILLS * 20, "the loop should have acknowledged real traffic (%d)" % len(acked)
