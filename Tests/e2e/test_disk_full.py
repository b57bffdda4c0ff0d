"""A real full filesystem (a size-limited tmpfs): sends get a clear error, reads go on, nothing
acknowledged is damaged, and writes resume once space is freed."""
import os
import time

import pytest

from clients import SendStatus, message, producer
from harness import Cluster, read_all, wait_until

MiB = 1024 * 1024


@pytest.mark.parametrize("warning_ratio", ["0.90", "1.0"], ids=["usage-ratio", "enospc"])
def test_full_disk_refuses_writes_serves_reads_and_recovers(small_disk, unique, warning_ratio):
    ballast = os.path.join(small_disk, "ballast")
    with open(ballast, "wb") as f:
        f.write(os.urandom(8 * MiB))
    c = Cluster(broker_overrides={
        "storePathRootDir": os.path.join(small_disk, "store"), "mappedFileSizeCommitLog": 6 * MiB,
        "maxMessageSize": 1 * MiB, "mappedFileSizeConsumeQueue": 20 * 1000, "maxHashSlotNum": 1000,
        "maxIndexNum": 4000, "cleanResourceInterval": 200, "diskSpaceWarningLevelRatio": warning_ratio,
        "diskSpaceCleanForciblyRatio": "1.0", "diskMaxUsedSpaceRatio": 95,
    }).start()
    try:
        topic = "FullTopic_" + unique
        p = producer(c, "PG_" + unique, timeout=2000)
        acked, refusals = [], 0
        for i in range(400):
            # Incompressible (stays 64 KiB on disk) and NUL-free: the wheel passes bodies as C strings.
            body = b"%06d" % i + os.urandom(64 * 1024).replace(b"\x00", b"\x01")
            try:
                if p.send_sync(message(topic, body)).status == SendStatus.OK:
                    acked.append(body)
            except Exception as error:
                assert "SERVICE_NOT_AVAILABLE" in str(error) or "14" in str(error) or "No route" in str(error), error
                refusals += 1
                if refusals >= 5:
                    break
        assert refusals >= 5, "the disk never filled (acked %d)" % len(acked)
        assert len(acked) > 20
        assert c.broker.alive()
        # Reads go on: every acknowledged message is intact.
        stored = read_all(c, topic)

        assert set(acked) <= set(stored), "%d acknowledged messages unreadable" % len(set(acked) - set(stored))
        log = c.broker.log()
        episode_lines = log.count("writes refused") + log.count("storing messages failed")
        assert episode_lines == 1, "the cause is logged once per episode, not per send (%d):\n%s" % (
            episode_lines, "\n".join(l for l in log.splitlines() if "writes" in l or "storing" in l))
        # Free space: writes are accepted again.
        os.unlink(ballast)
        deadline = time.time() + 15
        while True:
            try:
                if p.send_sync(message(topic, b"after-the-disk-was-freed")).status == SendStatus.OK:
                    break
            except Exception:
                assert time.time() < deadline, "writes never resumed after space was freed"
                time.sleep(0.3)
        assert b"after-the-disk-was-freed" in read_all(c, topic)
        assert set(acked) <= set(read_all(c, topic))
        p.shutdown()
    finally:
        c.cleanup()
