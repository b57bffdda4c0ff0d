"""Hostile input against real server processes: numbers that do not fit, floods that used to take
gigabytes, damaged records on disk, poison bodies, and bad names and paths (issue 10's eight
reproductions). Every test also checks that a well-behaved client is still served."""
import json
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time
import zlib

import pytest

from clients import ConsumerProcess, SendStatus, message, producer
from harness import BIN_DIR, Cluster, encode_frame, free_port, invoke, read_frame, stored_records, wait_until

# The RSS bounds these tests assert (and docs/operations.md states): what the broker may grow
# by, above its own size before the flood, while one connection pipelines requests it never
# reads the answers of, or while forty connections hold unfinished 16 MB frames.
PIPELINE_RSS_GROWTH_BOUND_MB = 128
PARTIAL_FRAME_RSS_GROWTH_BOUND_MB = 160


@pytest.fixture
def own_cluster():
    c = Cluster().start()
    yield c
    c.cleanup()


def rss_mb(process):
    with open("/proc/%d/status" % process.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for the broker")


class PeakRss:
    """The broker's largest RSS seen, sampled while waiting on conditions."""

    def __init__(self, process):
        self.process = process
        self.mb = rss_mb(process)

    def sample(self):
        self.mb = max(self.mb, rss_mb(self.process))

    def until(self, condition, timeout, message):
        def sampled():
            self.sample()
            return condition()
        wait_until(sampled, timeout, message=message)


def send_fields(topic, **overrides):
    fields = {"producerGroup": "PG_hostile", "topic": topic, "defaultTopic": "TBW102",
              "defaultTopicQueueNums": "4", "queueId": "0", "sysFlag": "0",
              "bornTimestamp": str(int(time.time() * 1000)), "flag": "0", "properties": "",
              "reconsumeTimes": "0"}
    fields.update(overrides)
    return fields


def pull_fields(topic, **overrides):
    fields = {"consumerGroup": "CG_hostile", "topic": topic, "queueId": "0", "queueOffset": "0",
              "maxMsgNums": "32", "sysFlag": "4", "commitOffset": "0", "suspendTimeoutMillis": "0",
              "subscription": "*", "subVersion": "0"}
    fields.update(overrides)
    return fields


class SteadySender(threading.Thread):
    """A well-behaved stock-client producer sending one message every 20 ms until stopped."""

    def __init__(self, cluster, topic, group):
        super().__init__(daemon=True)
        self.producer = producer(cluster, group)
        self.topic = topic
        self.statuses = []
        self.stopping = threading.Event()

    def run(self):
        i = 0
        while not self.stopping.is_set():
            try:
                self.statuses.append(self.producer.send_sync(message(self.topic, "steady-%d" % i)).status)
            except Exception as error:  # a failed send is what this test looks for
                self.statuses.append(repr(error))
            i += 1
            self.stopping.wait(0.02)  # paced; returns at once when stopped

    def finish(self):
        self.stopping.set()
        self.join(timeout=30)
        self.producer.shutdown()
        return self.statuses


# 1-3: numbers that do not fit their field get an error naming it; the broker stays up.

def test_numbers_that_do_not_fit_get_errors_naming_the_field(own_cluster, unique):
    c = own_cluster
    topic = "NumTopic_" + unique
    reply = invoke(c.broker_addr, 10, send_fields(topic, reconsumeTimes="999999999999"), body=b"x")
    assert reply.code == 1 and "<reconsumeTimes>" in reply.remark
    reply = invoke(c.broker_addr, 17, {"topic": topic, "readQueueNums": "4", "writeQueueNums": "4", "perm": "6",
                                       "topicSysFlag": "4294967296"})
    assert reply.code == 1 and "<topicSysFlag>" in reply.remark
    assert invoke(c.broker_addr, 10, send_fields(topic), body=b"fits").code == 0
    # A held pull whose timeout is Int64.max: held (clamped), not a trap.
    held = socket.create_connection(("127.0.0.1", c.broker_port), timeout=5)
    try:
        held.sendall(encode_frame(11, pull_fields(topic, queueOffset="1", sysFlag="6",
                                                  suspendTimeoutMillis="9223372036854775807")))
        # Held or not yet read, the pull is answered with the message sent after it.
        assert invoke(c.broker_addr, 10, send_fields(topic), body=b"wakes the pull").code == 0
        answer = read_frame(held)
        assert answer.code == 0 and [b for _, b, _ in stored_records(answer.body)] == [b"wakes the pull"]
    finally:
        held.close()
    for field, value in [("queueOffset", "9223372036854775807"), ("maxMsgNums", "-1"), ("queueId", "2147483648")]:
        reply = invoke(c.broker_addr, 11, pull_fields(topic, **{field: value}))
        assert c.broker.alive() and reply.code != 0
    assert invoke(c.broker_addr, 33, {"offset": "9223372036854775807"}).code == 1
    assert c.broker.alive()


# 4: one connection pipelines requests and never reads: the broker stops reading it.

def test_pipelined_requests_without_reading_are_bounded(own_cluster, unique):
    c = own_cluster
    topic = "PipeTopic_" + unique
    for i in range(32):
        assert invoke(c.broker_addr, 10, send_fields(topic), body=b"p" * 1024).code == 0
    steady = SteadySender(c, "Steady_" + unique, "PG_steady_" + unique)
    steady.start()
    wait_until(lambda: len(steady.statuses) >= 5, 30, message="the steady producer's first sends")
    peak = PeakRss(c.broker)
    baseline = peak.mb
    frame = encode_frame(11, pull_fields(topic))
    flood = socket.create_connection(("127.0.0.1", c.broker_port), timeout=5)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sent = 0
    deadline = time.time() + 25
    try:
        flood.settimeout(0.5)
        batch = frame * 500
        while sent < 250_000 and time.time() < deadline:
            try:
                flood.sendall(batch)
                sent += 500
            except socket.timeout:
                peak.sample()  # the broker stopped reading: we are blocked
        # While the flood stands, the steady producer is served.
        before = len(steady.statuses)
        peak.until(lambda: len(steady.statuses) >= before + 20, 30, "steady sends during the flood")
    finally:
        flood.close()
    wait_until(lambda: len(steady.statuses) >= 20, 30, message="steady sends after the flood")
    statuses = steady.finish()
    after = rss_mb(c.broker)
    print("pipelining: sent %d pulls, broker RSS %.0f MB before, %.0f MB peak, %.0f MB after; steady sends %d"
          % (sent, baseline, peak.mb, after, len(statuses)))
    assert sent < 250_000, "the broker read every request although none of the answers was read"
    assert peak.mb - baseline < PIPELINE_RSS_GROWTH_BOUND_MB
    assert after - baseline < PIPELINE_RSS_GROWTH_BOUND_MB
    assert all(status == SendStatus.OK for status in statuses), statuses
    assert c.broker.alive()


# 5: forty connections each hold most of a 16 MB frame: the partial-frame budget closes some.

def test_unfinished_frames_count_against_a_server_wide_budget(own_cluster, unique):
    c = own_cluster
    steady = SteadySender(c, "Steady_" + unique, "PG_steady_" + unique)
    steady.start()
    wait_until(lambda: len(steady.statuses) >= 5, 30, message="the steady producer's first sends")
    peak = PeakRss(c.broker)
    baseline = peak.mb
    length = 16 * 1024 * 1024 - 1024
    header = json.dumps({"code": 10, "language": "JAVA", "version": 317, "opaque": 1, "flag": 0,
                         "extFields": send_fields("Partial_" + unique)}).encode()
    start = struct.pack(">ii", 4 + length - 4, len(header)) + header
    chunk = b"z" * (256 * 1024)
    closed = []
    sockets = []

    def hold(index):
        s = socket.create_connection(("127.0.0.1", c.broker_port), timeout=10)
        sockets.append(s)
        try:
            s.sendall(start)
            written = len(start)
            while written + len(chunk) < length - 4096:
                s.sendall(chunk)
                written += len(chunk)
        except OSError:
            closed.append(index)

    threads = [threading.Thread(target=hold, args=(i,), daemon=True) for i in range(40)]
    for t in threads:
        t.start()
    peak.until(lambda: not any(t.is_alive() for t in threads), 60, "the flooding connections to finish or close")
    before = len(steady.statuses)
    peak.until(lambda: len(steady.statuses) >= max(20, before + 10), 30, "steady sends during the flood")
    for s in sockets:
        s.close()
    statuses = steady.finish()
    print("partial frames: %d of 40 connections closed by the broker, RSS %.0f MB before, %.0f MB peak; steady %d"
          % (len(closed), baseline, peak.mb, len(statuses)))
    assert len(closed) > 0, "no connection was refused although 40 x 16 MB exceed the budget"
    assert peak.mb - baseline < PARTIAL_FRAME_RSS_GROWTH_BOUND_MB
    assert all(status == SendStatus.OK for status in statuses), statuses
    assert "over the budget" in c.broker.log()
    assert c.broker.alive()


# 6: a damaged record is never served; the consumer skips it; the scrubber reports damage.

def _store_and_find(c, topic, count):
    for i in range(count):
        assert invoke(c.broker_addr, 10, send_fields(topic), body=b"record-%03d" % i).code == 0
    reply = invoke(c.broker_addr, 11, pull_fields(topic))
    assert reply.code == 0
    return stored_records(reply.body)


def _flip(c, offset, delta, mask=0x20):
    directory = os.path.join(c.dir, "store", "commitlog")
    segments = sorted(os.listdir(directory))
    size = os.path.getsize(os.path.join(directory, segments[0]))
    name = segments[offset // size]
    with open(os.path.join(directory, name), "r+b") as f:
        f.seek(offset % size + delta)
        byte = f.read(1)[0]
        f.seek(offset % size + delta)
        f.write(bytes([byte ^ mask]))


@pytest.mark.parametrize("where", ["body", "magic"])
def test_damaged_records_are_never_served(own_cluster, unique, where):
    c = own_cluster
    topic = "DamageTopic_" + unique
    stored = _store_and_find(c, topic, 10)
    c.broker.stop()
    damaged_offset = stored[4][0]
    if where == "body":
        _flip(c, damaged_offset, 88 + 7)  # 'record-004' -> 'record-\x10\x30\x34'
    else:
        for i in range(4):
            _flip(c, damaged_offset, 4 + i, 0xFF)
    c.start_broker()
    assert "no scan" in c.broker.log(), "a clean restart still needs no full scan"
    first = invoke(c.broker_addr, 11, pull_fields(topic))
    assert first.code == 0 and [b for _, b, _ in stored_records(first.body)] == [b"record-%03d" % i for i in range(4)]
    assert first.ext["nextBeginOffset"] == "4"
    at_damage = invoke(c.broker_addr, 11, pull_fields(topic, queueOffset="4"))
    assert at_damage.code == 20 and "MESSAGE_DAMAGED" in at_damage.remark and not at_damage.body
    assert at_damage.ext["nextBeginOffset"] == "5"
    rest = invoke(c.broker_addr, 11, pull_fields(topic, queueOffset="5"))
    assert [b for _, b, _ in stored_records(rest.body)] == [b"record-%03d" % i for i in range(5, 10)]
    viewed = invoke(c.broker_addr, 33, {"offset": str(damaged_offset)})
    assert viewed.code == 1 and not viewed.body
    log = c.broker.log()
    assert "damaged CommitLog record" in log and "00000000000000000000" in log
    assert log.count("at %d:" % damaged_offset) == 1, "logged once"
    # A stock consumer gets every other record and carries on past the damaged one.
    got = ConsumerProcess(c, "CG_damage_" + unique, topic)
    try:
        wait_until(lambda: len(got.bodies()) >= 9, 60, message="the nine intact records")
        assert sorted(got.bodies()) == sorted(b"record-%03d" % i for i in range(10) if i != 4)
    finally:
        got.shutdown()


def test_the_scrubber_reports_damage_in_sealed_segments(unique):
    c = Cluster({"mappedFileSizeCommitLog": 256 * 1024, "maxMessageSize": 64 * 1024,
                 "commitLogScrubBytesPerSecond": 16 * 1024 * 1024}).start()
    try:
        topic = "ScrubTopic_" + unique
        for i in range(300):
            assert invoke(c.broker_addr, 10, send_fields(topic), body=b"s" * 1024).code == 0
        assert len(os.listdir(os.path.join(c.dir, "store", "commitlog"))) >= 2
        first = stored_records(invoke(c.broker_addr, 11, pull_fields(topic, maxMsgNums="1")).body)[0][0]
        c.broker.stop()
        _flip(c, first, 100)
        c.start_broker()
        wait_until(lambda: "damaged CommitLog record" in c.broker.log(), 30, message="the scrubber's report")
        status = subprocess.run([os.path.join(BIN_DIR, "mqadmin"), "brokerStatus", "-n", c.namesrv_addr,
                                 "-b", c.broker_addr], capture_output=True, text=True, timeout=60)
        assert status.returncode == 0
        fields = dict(line.split(":", 1) for line in status.stdout.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        assert fields["commitLogDamagedRecords"] == "1", status.stdout
        assert "00000000000000000000" in fields["commitLogLastDamage"]
        assert int(fields["commitLogScrubbedBytes"]) > 0
    finally:
        c.cleanup()


# 7: a body flagged compressed must inflate.

def test_a_compressed_flag_on_a_body_that_does_not_inflate_is_refused(own_cluster, unique):
    c = own_cluster
    topic = "ZipTopic_" + unique
    reply = invoke(c.broker_addr, 10, send_fields(topic, sysFlag="1"), body=b"this is not zlib data")
    assert reply.code == 13 and "compressed" in reply.remark
    assert invoke(c.broker_addr, 10, send_fields(topic, sysFlag="1"), body=zlib.compress(b"real zlib")).code == 0
    p = producer(c, "PG_" + unique)
    big = b"B" * 10_000  # the stock client compresses bodies over 4 KiB
    assert p.send_sync(message(topic, big)).status == SendStatus.OK
    p.shutdown()
    got = ConsumerProcess(c, "CG_zip_" + unique, topic)
    try:
        wait_until(lambda: len(got.bodies()) >= 2, 60, message="both compressed messages")
        assert sorted(got.bodies()) == sorted([b"real zlib", big])
    finally:
        got.shutdown()


# 8: names and paths.

def test_group_and_topic_names_follow_rocketmq_validation(own_cluster, unique):
    c = own_cluster
    topic = "NameTopic_" + unique
    assert invoke(c.broker_addr, 10, send_fields(topic), body=b"x").code == 0
    for group in ["", "../../../tmp/x", "g" * 10_000, "a b"]:
        reply = invoke(c.broker_addr, 11, pull_fields(topic, consumerGroup=group))
        assert reply.code == 1 and "group" in reply.remark, (group[:20], reply.remark)
    for bad_topic in ["t" * 128, "../x", ""]:
        reply = invoke(c.broker_addr, 10, send_fields(bad_topic), body=b"x")
        assert reply.code == 1 and "topic" in reply.remark
    assert invoke(c.broker_addr, 11, pull_fields(topic, consumerGroup="g" * 255)).code == 0
    groups = json.loads(invoke(c.broker_addr, 201, {}).body)["subscriptionGroupTable"]
    assert all(name and "/" not in name and len(name) <= 255 for name in groups)
    assert not os.path.exists("/tmp/x")


def test_startup_errors_name_the_path_and_the_default_store_is_logged():
    directory = tempfile.mkdtemp(prefix="rmq-paths-")
    try:
        blocker = os.path.join(directory, "a-file")
        open(blocker, "w").close()
        conf = os.path.join(directory, "broker.conf")
        with open(conf, "w") as f:
            f.write("storePathRootDir=%s/store\nlistenPort=%d\nnamesrvAddr=127.0.0.1:1\n" % (blocker, 1))
        out = subprocess.run([os.path.join(BIN_DIR, "mqbroker"), "-c", conf], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode != 0 and blocker in (out.stdout + out.stderr), out.stdout + out.stderr
        # An empty config: RocketMQ's default store under $HOME, and the log says where.
        home = os.path.join(directory, "home")
        os.mkdir(home)
        empty = os.path.join(directory, "empty.conf")
        open(empty, "w").close()
        env = dict(os.environ, HOME=home)
        port, ha_port = free_port(), free_port()
        with open(empty, "w") as f:
            f.write("listenPort=%d\nhaListenPort=%d\nbindAddress=127.0.0.1\nnamesrvAddr=127.0.0.1:1\n"
                    % (port, ha_port))
        log_path = os.path.join(directory, "broker.log")
        with open(log_path, "wb") as log:
            broker = subprocess.Popen([os.path.join(BIN_DIR, "mqbroker"), "-c", empty], stdout=log,
                                      stderr=subprocess.STDOUT, env=env)
        try:
            wait_until(lambda: "store at %s/store" % home in open(log_path).read(), 30, message="the store's path")
            assert os.path.isdir(os.path.join(home, "store", "commitlog"))
        finally:
            broker.kill()
            broker.wait(timeout=30)
    finally:
        subprocess.run(["rm", "-rf", directory])
