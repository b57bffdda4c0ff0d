"""Classic master/slave HA (SYNC_MASTER, ASYNC_MASTER, SLAVE) with the stock client, against real
mqnamesrv/mqbroker processes: RocketMQ's HA wire format on haListenPort, byte-identical CommitLogs,
SYNC_MASTER's statuses, reads from the slave when the master is gone."""
import json
import shutil
import signal
import socket
import threading
import time

import pytest
from rocketmq.exceptions import ProducerSendSyncFailed

from clients import Collector, SendStatus, message, producer, push_consumer
from harness import MasterSlave, encode_frame, example, invoke, read_all, wait_until

SEND_MESSAGE = 10
QUERY_CONSUMER_OFFSET = 14
SLAVE_NOT_AVAILABLE = 11
FLUSH_SLAVE_TIMEOUT = 12
SERVICE_NOT_AVAILABLE = 14


@pytest.fixture
def pair(request):
    role, master, slave = getattr(request, "param", ("SYNC_MASTER", None, None))
    ms = MasterSlave(role, master, slave).start()
    yield ms
    ms.stop()
    ms.cleanup()


class Reader:
    """What `read_all` needs: a broker address."""

    def __init__(self, address):
        self.broker_addr = address


def raw_send(address, topic, body, queue=0):
    return invoke(address, SEND_MESSAGE, {
        "producerGroup": "PG_raw", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
        "queueId": str(queue), "sysFlag": "0", "bornTimestamp": str(int(time.time() * 1000)), "flag": "0",
        "properties": "", "reconsumeTimes": "0", "unitMode": "false", "batch": "false"}, body)


def committed(address, group, topic, queues=4):
    total = 0
    for queue in range(queues):
        response = invoke(address, QUERY_CONSUMER_OFFSET,
                          {"consumerGroup": group, "topic": topic, "queueId": str(queue), "setZeroIfNotFound": "false"},
                          timeout=3)
        if response.code == 0:
            total += int(response.ext["offset"])
    return total


def ends(ms):
    return int(ms.runtime(0)["commitLogMaxOffset"]), int(ms.runtime(1)["commitLogMaxOffset"])


def test_sync_master_acknowledges_only_what_the_slave_has_and_the_slave_serves_it_after_the_master_is_lost(
        pair, unique):
    topic = "TopicMsSync" + unique
    p = producer(pair, "PG_ms" + unique)
    acked = []
    for i in range(200):
        body = b"sync-%d" % i
        status = p.send_sync(message(topic, body)).status
        assert status == SendStatus.OK, "send %d answered %s" % (i, status)
        acked.append(body)
        if i % 10 == 0:
            # SEND_OK only once the slave acknowledged: it already has this message (the last
            # bytes of the master's log, with no other writer).
            master_end, slave_end = ends(pair)
            assert slave_end >= master_end, "SEND_OK for %r before the slave had it" % body
    master_end, slave_end = ends(pair)
    assert slave_end == master_end
    # The slave serves the topic once it mirrored the master's topic config (every 3 s).
    wait_until(lambda: sorted(read_all(Reader(pair.addrs[1]), topic)) == sorted(acked), 15,
               message="the slave serves every acknowledged message")

    pair.master.kill()
    shutil.rmtree(pair.store_dir(0))
    wait_until(lambda: "0" not in pair.broker_addrs(), 30, message="the NameServer drops the dead master")
    consumer, collector = push_consumer(pair, "CG_ms" + unique, topic)
    try:
        wait_until(lambda: set(acked) <= set(collector.bodies()), 90,
                   message="a new group reads every acknowledged message from the slave")
    finally:
        consumer.shutdown()


def test_sync_master_without_its_slave_never_answers_send_ok(pair, unique):
    topic = "TopicMsNoSlave" + unique
    assert raw_send(pair.addrs[0], topic, b"with-slave").code == 0
    pair.slave.kill()
    wait_until(lambda: pair.runtime(0)["haSlaveConnections"] == "0", 30, message="the master sees the slave gone")
    for i in range(5):
        response = raw_send(pair.addrs[0], topic, b"no-slave-%d" % i)
        assert response.code == SLAVE_NOT_AVAILABLE, (response.code, response.remark)
    # The stock client retries a send answered with another status than SEND_OK, then raises its
    # generic "No route info" error (docs/compatibility.md): never a SEND_OK.
    p = producer(pair, "PG_ns" + unique)
    for i in range(3):
        try:
            status = p.send_sync(message(topic, b"stock-no-slave-%d" % i)).status
        except ProducerSendSyncFailed:
            continue
        assert status in (SendStatus.SLAVE_NOT_AVAILABLE, SendStatus.FLUSH_SLAVE_TIMEOUT), status
    # They were stored on the master all the same, as RocketMQ does.
    bodies = read_all(Reader(pair.addrs[0]), topic)
    assert set(b"no-slave-%d" % i for i in range(5)) <= set(bodies)


@pytest.mark.parametrize("pair", [("ASYNC_MASTER", None, None)], indirect=True)
def test_async_slave_catches_up_within_a_bounded_lag_under_load(pair, unique):
    topic = "TopicMsAsync" + unique
    p = producer(pair, "PG_async" + unique)
    stop = threading.Event()
    sent = []
    errors = []

    def load():
        body = b"x" * 1024
        while not stop.is_set():
            try:
                if p.send_sync(message(topic, body)).status == SendStatus.OK:
                    sent.append(1)
            except Exception as e:  # noqa: BLE001 - recorded and asserted below
                errors.append(e)

    # One sending thread: the stock client's threads share one transport (docs/compatibility.md).
    threads = [threading.Thread(target=load)]
    for t in threads:
        t.start()
    lags = []
    deadline = time.time() + 6
    while time.time() < deadline:
        slave_end = int(pair.runtime(1)["commitLogMaxOffset"])
        lags.append(int(pair.runtime(0)["commitLogMaxOffset"]) - slave_end)
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    assert not errors and len(sent) > 500
    wait_until(lambda: ends(pair)[0] == ends(pair)[1], 10, message="the slave catches up")
    lags.sort()
    print("ASYNC_MASTER slave lag under load: %d sends, lag p50 %d B, max %d B"
          % (len(sent), lags[len(lags) // 2], lags[-1]))
    assert lags[-1] < 8 * 1024 * 1024


def test_the_slave_refuses_sends(pair, unique):
    response = raw_send(pair.addrs[1], "TopicMsRefuse" + unique, b"to-the-slave")
    assert response.code == SERVICE_NOT_AVAILABLE
    assert "SLAVE" in response.remark and "not the master" in response.remark


@pytest.mark.parametrize("pair", [("ASYNC_MASTER", None, None)], indirect=True)
def test_restarts_resume_from_the_right_offsets_and_the_logs_stay_identical(pair, unique):
    topic = "TopicMsRestart" + unique
    p = producer(pair, "PG_restart" + unique)
    sent = []

    def send(count, tag):
        for i in range(count):
            body = b"%s-%d" % (tag, i)
            assert p.send_sync(message(topic, body)).status == SendStatus.OK
            sent.append(body)

    send(100, b"before")
    wait_until(lambda: ends(pair)[0] == ends(pair)[1], 10, message="the slave has the first batch")
    # The master crashes and comes back while the slave runs.
    pair.master.kill()
    pair.start_broker(0)
    pair.wait_replicating()
    send(100, b"after-master")
    # The slave crashes while the master takes writes, then catches up from its own end.
    pair.slave.kill()
    send(100, b"slave-down")
    pair.start_broker(1)
    pair.wait_replicating()
    send(50, b"after-slave")
    wait_until(lambda: ends(pair)[0] == ends(pair)[1], 20, message="the slave catches up")
    end = ends(pair)[0]
    assert pair.commitlog_bytes(0, end) == pair.commitlog_bytes(1, end)
    wait_until(lambda: sorted(read_all(Reader(pair.addrs[1]), topic)) == sorted(sent), 15,
               message="the slave serves every message")
    assert "connected to master" in pair.slave.log()


def test_consumers_move_to_the_slave_and_back_without_losing_committed_offsets(pair, unique):
    topic = "TopicMsMove" + unique
    group = "CG_move" + unique
    p = producer(pair, "PG_move" + unique)
    first = [b"move-%d" % i for i in range(120)]
    for body in first:
        assert p.send_sync(message(topic, body)).status == SendStatus.OK

    slow = Collector()

    def handler(msg):
        time.sleep(0.05)
        slow(msg)

    consumer, _ = push_consumer(pair, group, topic, collector=handler)
    try:
        wait_until(lambda: len(slow.bodies()) >= 20, 30, message="consumption started")
        pair.master.kill()
        wait_until(lambda: set(first) <= set(slow.bodies()), 120,
                   message="the consumer finishes from the slave (%d of %d)" % (len(set(slow.bodies())), len(first)))
        wait_until(lambda: committed(pair.addrs[1], group, topic) == len(first), 30,
                   message="offsets committed to the slave")
        pair.start_broker(0)
        wait_until(lambda: committed(pair.addrs[0], group, topic) == len(first), 30,
                   message="the returning master has the offsets committed while it was away")
        pair.wait_replicating()
        second = [b"back-%d" % i for i in range(10)]
        for body in second:
            assert p.send_sync(message(topic, body)).status == SendStatus.OK
        wait_until(lambda: set(second) <= set(slow.bodies()), 60, message="consumption after the master returned")
        assert committed(pair.addrs[0], group, topic) >= len(first)
    finally:
        consumer.shutdown()
    assert "committed here while it was away" in pair.slave.log()


def test_a_peer_speaking_garbage_on_the_ha_port_is_disconnected(pair):
    for garbage in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\xff" * 8, encode_frame(105, {"topic": "TBW102"})):
        with socket.create_connection(("127.0.0.1", pair.ha_ports[0]), timeout=10) as s:
            s.sendall(garbage)
            received = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
            assert len(received) <= 12, "the master streamed data to a garbage peer"
    log = pair.master.log()
    assert "telling the slave to stop" in log and "is negative" in log
    assert pair.master.alive()
    assert raw_send(pair.addrs[0], "TopicAfterGarbage", b"still-serving").code == 0


@pytest.mark.parametrize("pair", [("ASYNC_MASTER", None, None)], indirect=True)
def test_a_slave_whose_log_is_not_the_masters_stops_with_a_clear_error(pair, unique):
    topic = "TopicMsDiverge" + unique
    for i in range(50):
        assert raw_send(pair.addrs[0], topic, b"old-%d" % i).code == 0
    wait_until(lambda: ends(pair)[0] == ends(pair)[1], 10, message="the slave has the old log")
    slave_end = ends(pair)[1]
    # The master loses its disk and starts afresh, shorter than what the slave holds.
    pair.slave.stop()
    pair.master.kill()
    shutil.rmtree(pair.store_dir(0))
    pair.start_broker(0)
    assert raw_send(pair.addrs[0], topic, b"new").code == 0
    pair.slave.start()
    wait_until(lambda: not pair.slave.alive(), 30, message="the diverged slave stops")
    assert pair.slave.proc.returncode != 0
    log = pair.slave.log()
    assert "replication from" in log and "stops" in log and "diverged" in log
    assert "has bytes this master never had" in pair.master.log()
    # It kept its own log; nothing was appended from the new master.
    assert len(pair.commitlog_bytes(1).rstrip(b"\0")) <= slave_end
    assert pair.master.alive() and raw_send(pair.addrs[0], topic, b"still-serving").code == 0


READ_FROM_SLAVE = {"slaveReadEnable": "true", "accessMessageInMemoryMaxRatio": "0"}


@pytest.mark.parametrize("pair", [("SYNC_MASTER", READ_FROM_SLAVE, READ_FROM_SLAVE)], indirect=True)
def test_consumers_reading_cold_data_follow_the_suggestion_to_the_slave(pair, unique):
    topic = "TopicMsCold" + unique
    p = producer(pair, "PG_cold" + unique)
    bodies = [b"cold-%d" % i for i in range(300)]
    for body in bodies:
        assert p.send_sync(message(topic, body)).status == SendStatus.OK
    wait_until(lambda: len(read_all(Reader(pair.addrs[1]), topic)) == len(bodies), 15,
               message="the slave serves the topic")
    # With accessMessageInMemoryMaxRatio=0 every read is cold: the master points at broker 1.
    response = invoke(pair.addrs[0], 11, {
        "consumerGroup": "CG_probe" + unique, "topic": topic, "queueId": 0, "queueOffset": "0", "maxMsgNums": 1,
        "sysFlag": 4, "commitOffset": "0", "suspendTimeoutMillis": "0", "subscription": "*", "subVersion": "0"})
    assert response.code == 0 and response.ext["suggestWhichBrokerId"] == "1"

    def served():
        return [int(pair.runtime(n)["msgGetTotalTodayNow"]) for n in (0, 1)]

    # The stock client: at most the first pull of each queue (32 messages) comes from the master.
    before = served()
    consumer, collector = push_consumer(pair, "CG_cold_stock" + unique, topic)
    try:
        wait_until(lambda: set(bodies) <= set(collector.bodies()), 60, message="the stock consumer reads all")
    finally:
        consumer.shutdown()
    after = served()
    assert after[1] - before[1] >= len(bodies) - 4 * 32, (before, after)

    # Our client follows it the same way.
    before = after
    code, lines, err = example(pair, "push-consume", topic, "CG_cold_swift" + unique, "--count", str(len(bodies)),
                               "--timeout", "60", "--from-first")
    assert code == 0, err
    assert set(line["body"].encode() for line in lines) >= set(bodies)
    after = served()
    assert after[1] - before[1] >= len(bodies) - 4 * 32, (before, after)
