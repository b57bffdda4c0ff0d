"""Disk faults on one replica of a 3-node DLedger group: the group carries on, the replica logs
the cause once, never acknowledges what it does not have, and catches up once it can."""
import os
import shutil
import signal
import subprocess

import pytest

from clients import SendStatus, message, producer
from harness import DLedgerGroup, read_all, wait_until

MiB = 1024 * 1024


def keep_follower(group, n):
    """Makes sure member n is not the master (the faulty replica of a test stays a follower)."""
    if group.master_addr() == group.addrs[n]:
        group.brokers[n].kill(signal.SIGKILL)
        group.wait_master(other_than=group.addrs[n])
        group.restart(n)


def committed_indices(group):
    return [group.runtime(n)["dLegerCommittedIndex"] for n in range(len(group.brokers))]


def checksums(group, n):
    import hashlib
    directory = group.data_dir(n)
    return {name: hashlib.sha256(open(os.path.join(directory, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(directory))}


def test_a_full_disk_on_one_replica_fails_no_send_and_it_catches_up_after(small_disk, unique):
    small = {"maxHashSlotNum": 1000, "maxIndexNum": 4000, "mappedFileSizeConsumeQueue": 20 * 1000}
    group = DLedgerGroup(broker_overrides=small)
    try:
        # n2 lives on a small filesystem that is mostly full already.
        with open(group.confs[2], "a") as f:
            f.write("storePathRootDir=%s\n" % os.path.join(small_disk, "store"))
        ballast = os.path.join(small_disk, "ballast")
        with open(ballast, "wb") as f:
            f.write(os.urandom(14 * MiB))
        group.start()
        keep_follower(group, 2)
        topic = "DLFull_" + unique
        p = producer(group, "PG_" + unique, timeout=3000)
        acked = []
        for i in range(250):
            body = b"%06d" % i + os.urandom(64 * 1024).replace(b"\x00", b"\x01")
            result = p.send_sync(message(topic, body))
            assert result.status == SendStatus.OK, "send %d failed while one replica's disk was full" % i
            acked.append(body)
        wait_until(lambda: "writing the log failed" in group.brokers[2].log(), 20,
                   message="the full replica to log its write failure")
        assert group.brokers[2].alive()
        assert group.brokers[2].log().count("writing the log failed") == 1, "logged once per episode"
        assert group.runtime(2)["brokerRole"] == "SLAVE"
        assert set(acked) <= set(read_all(group, topic))
        os.unlink(ballast)
        wait_until(lambda: len(set(committed_indices(group))) == 1, 60,
                   message="the replica to catch up once space was freed")
        assert "writing the log succeeds again" in group.brokers[2].log()
        p.shutdown()
    finally:
        group.cleanup()


def test_fsync_errors_on_a_sync_flush_replica_cut_what_it_cannot_sync_and_are_logged_once(unique):
    """Found by the chaos runner: in SYNC_FLUSH a replica whose fsync failed kept the entries it
    had written but not synced (its restarted core would count them) and logged "failed" and
    "succeeds again" hundreds of times a second. It must keep only what it synced, say so once,
    and catch up once fsync works again."""
    fiu_run, fiu_ctrl = shutil.which("fiu-run"), shutil.which("fiu-ctrl")
    if not fiu_run or not fiu_ctrl:
        pytest.skip("needs fiu-utils (Debian); scripts/test.sh installs it through chaos/run.sh")
    group = DLedgerGroup(broker_overrides={"flushDiskType": "SYNC_FLUSH"})
    try:
        control = os.path.join(group.dir, "fiu-ctrl")  # its FIFOs, <control>-<pid>.in/.out
        group.brokers[2].args = [fiu_run, "-x", "-f", control] + group.brokers[2].args  # it execs: one pid
        group.start()
        keep_follower(group, 2)
        topic = "DLFsync_" + unique
        p = producer(group, "PG_" + unique, timeout=3000)
        acked = []
        for i in range(20):
            assert p.send_sync(message(topic, "before-%d" % i)).status == SendStatus.OK
            acked.append("before-%d" % i)
        wait_until(lambda: len(set(committed_indices(group))) == 1, 30, message="every replica caught up")
        subprocess.run([fiu_ctrl, "-f", control, "-c", "enable name=posix/io/sync/fsync,failinfo=5",
                        str(group.brokers[2].proc.pid)], check=True)
        for i in range(150):
            result = p.send_sync(message(topic, "during-%d" % i))
            assert result.status == SendStatus.OK, "send %d failed while one replica could not fsync" % i
            acked.append("during-%d" % i)
        wait_until(lambda: "writing the log failed" in group.brokers[2].log(), 20,
                   message="the replica to log its fsync failure")
        leader = group.index_of(group.master_addr())
        behind = int(group.runtime(leader)["dLegerEndIndex"]) - int(group.runtime(2)["dLegerEndIndex"])
        assert behind >= 100, "the replica kept %d fewer entries than the leader: it kept unsynced ones" % behind
        info = group.runtime(2)
        assert int(info["dLegerDataEnd"]) - int(info["dLegerFlushedEnd"]) < 64 * 1024
        subprocess.run([fiu_ctrl, "-f", control, "-c", "disable name=posix/io/sync/fsync",
                        str(group.brokers[2].proc.pid)], check=True)
        for i in range(10):
            assert p.send_sync(message(topic, "after-%d" % i)).status == SendStatus.OK
            acked.append("after-%d" % i)
        wait_until(lambda: len(set(committed_indices(group))) == 1, 30,
                   message="the replica to catch up once fsync works")
        log = group.brokers[2].log()
        assert log.count("writing the log failed") == 1, "logged once per episode"
        assert log.count("writing the log succeeds again") == 1
        assert log.count("were written but not synced") <= 1, "the cut tail is reported once per episode"
        assert {body.encode() for body in acked} <= set(read_all(group, topic))
        wait_until(lambda: checksums(group, 2) == checksums(group, leader), 15,
                   message="the replica's data files to equal the leader's")
        p.shutdown()
    finally:
        group.cleanup()


def test_a_corrupt_entry_on_a_replica_is_cut_and_replicated_again(unique):
    group = DLedgerGroup().start()
    try:
        topic = "DLCorrupt_" + unique
        p = producer(group, "PG_" + unique, timeout=3000)
        for i in range(60):
            assert p.send_sync(message(topic, "before-%d" % i)).status == SendStatus.OK
        leader = group.index_of(group.wait_master())
        victim = (leader + 1) % 3
        wait_until(lambda: len(set(committed_indices(group))) == 1, 30, message="every replica caught up")
        group.brokers[victim].kill(signal.SIGKILL)
        # Flip a byte near the end of the replica's written data (inside one of its last entries).
        path = os.path.join(group.data_dir(victim), sorted(os.listdir(group.data_dir(victim)))[0])
        with open(path, "r+b") as f:
            data = f.read()
            end = len(data.rstrip(b"\x00"))
            f.seek(end - 20)
            byte = f.read(1)
            f.seek(end - 20)
            f.write(bytes([byte[0] ^ 0xFF]))
        group.restart(victim)
        wait_until(lambda: "recovery cut the tail" in group.brokers[victim].log(), 20,
                   message="recovery to cut the corrupt tail")
        for i in range(20):
            assert p.send_sync(message(topic, "after-%d" % i)).status == SendStatus.OK
        try:
            wait_until(lambda: len(set(committed_indices(group))) == 1, 30, message="the replica to catch up")
        except AssertionError:
            print(group.brokers[victim].log()[-6000:])
            print(committed_indices(group))
            raise
        wait_until(lambda: checksums(group, victim) == checksums(group, leader), 15,
                   message="the replica's data files to equal the leader's again")
        p.shutdown()
    finally:
        group.cleanup()
