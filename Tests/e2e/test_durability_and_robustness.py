"""Crash recovery, bad input and configuration handling of the real server processes."""
import os
import random
import signal
import socket
import struct
import subprocess
import time

import pytest

from clients import ConsumerProcess, SendStatus, message, producer
from harness import BIN_DIR, Cluster, encode_frame, invoke, read_frame, stored_records, wait_until


@pytest.fixture
def own_cluster():
    c = Cluster().start()
    yield c
    c.cleanup()


def test_broker_killed_with_sigkill_keeps_every_acknowledged_message(own_cluster, unique):
    c = own_cluster
    topic = "CrashTopic_" + unique
    p = producer(c, "PG_" + unique)
    acked = set()
    for i in range(300):
        body = "crash-%d" % i
        if p.send_sync(message(topic, body, keys=body)).status == SendStatus.OK:
            acked.add(body.encode())
    p.shutdown()
    assert len(acked) == 300
    c.broker.kill(signal.SIGKILL)
    c.start_broker()
    from test_kill_loop import read_all
    assert acked <= set(read_all(c, topic)), "acknowledged messages missing after the crash"
    assert "store recovered" in c.broker.log()
    # And a consumer group reads them all.
    got = ConsumerProcess(c, "CG_crash_" + unique, topic)
    try:
        wait_until(lambda: acked <= set(got.bodies()), 90, message="a consumer reading everything after the crash")
    finally:
        got.shutdown()


def test_consumer_offsets_survive_a_graceful_restart(own_cluster, unique):
    c = own_cluster
    topic, group = "OffsetTopic_" + unique, "CG_offset_" + unique
    p = producer(c, "PG_" + unique)
    for i in range(20):
        p.send_sync(message(topic, "first-%d" % i))
    got = ConsumerProcess(c, group, topic)
    got.wait_for(20)
    got.shutdown()  # commits its offsets on the way out
    c.broker.stop()
    c.start_broker()
    for i in range(5):
        p.send_sync(message(topic, "second-%d" % i))
    again = ConsumerProcess(c, group, topic)
    try:
        again.wait_for(5)
        time.sleep(1)
        assert sorted(again.bodies()) == sorted(b"second-%d" % i for i in range(5))
    finally:
        again.shutdown()
        p.shutdown()


def _still_serving(c):
    return invoke(c.namesrv_addr, 105, {"topic": "TBW102"}).code == 0 and \
        invoke(c.broker_addr, 30, {"topic": "TBW102", "queueId": 0}).code == 0


@pytest.mark.parametrize("target", ["namesrv", "broker"])
def test_malformed_frames_close_the_connection_and_never_crash(own_cluster, target):
    c = own_cluster
    port = c.namesrv_port if target == "namesrv" else c.broker_port
    rng = random.Random(7)
    garbage = [
        struct.pack(">i", 0x7FFFFFFF) + b"x" * 16,              # oversize length
        struct.pack(">i", 2) + b"ab",                           # shorter than the header word
        struct.pack(">ii", 20, 0x00FFFFFF) + b"x" * 16,         # header longer than the frame
        struct.pack(">ii", 12, 0x05000004) + b"{}{}" + b"1234",  # unknown serialization type
        struct.pack(">ii", 12, 8) + b"not json",               # bad JSON header
        struct.pack(">ii", 10, 6 | 1 << 24) + b"\x00\x01",      # truncated binary header
    ] + [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))) for _ in range(30)]
    for payload in garbage:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(5)
                while s.recv(4096):
                    pass
            except (ConnectionResetError, BrokenPipeError, socket.timeout):
                pass
    process = c.namesrv if target == "namesrv" else c.broker
    assert process.alive()
    assert _still_serving(c)
    assert "closing connection" in process.log()


def test_unknown_request_code_and_bad_headers_get_clear_errors(own_cluster):
    c = own_cluster
    for address in (c.namesrv_addr, c.broker_addr):
        response = invoke(address, 9999, {})
        assert response.code == 3 and "not supported" in response.remark
    response = invoke(c.broker_addr, 11, {"topic": "TBW102"})  # PULL without its required fields
    assert response.code == 1 and "consumerGroup" in response.remark
    response = invoke(c.broker_addr, 34, {}, body=b"{not json")
    assert response.code == 1
    # The ROCKETMQ binary header is read, and answered in kind.
    header = struct.pack(">hbhiii", 105, 0, 407, 77, 0, 0)
    ext = b"".join(struct.pack(">h", len(k)) + k + struct.pack(">i", len(v)) + v for k, v in [(b"topic", b"TBW102")])
    header += struct.pack(">i", len(ext)) + ext
    with socket.create_connection(("127.0.0.1", c.namesrv_port), timeout=5) as s:
        s.sendall(struct.pack(">ii", 4 + len(header), len(header) | 1 << 24) + header)
        raw = s.recv(8)
        assert raw[4] == 1, "answered with the request's serialization type"


def test_large_frame_over_the_limit_is_refused_but_server_keeps_data(own_cluster, unique):
    c = own_cluster
    topic = "LimitTopic_" + unique
    p = producer(c, "PG_" + unique)
    assert p.send_sync(message(topic, "before")).status == SendStatus.OK
    p.shutdown()
    with socket.create_connection(("127.0.0.1", c.broker_port), timeout=5) as s:
        try:
            s.sendall(encode_frame(10, {"topic": topic}, body=b"x" * (17 * 1024 * 1024)))
            s.settimeout(10)
            while s.recv(65536):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass  # the broker closes the connection as soon as it reads the length
    assert invoke(c.broker_addr, 30, {"topic": topic, "queueId": 0}).code == 0
    total = sum(int(invoke(c.broker_addr, 30, {"topic": topic, "queueId": q}).ext["offset"]) for q in range(4))
    assert total == 1


def test_print_config_and_bad_config_are_reported():
    out = subprocess.run([os.path.join(BIN_DIR, "mqnamesrv"), "-p"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "listenPort=9876" in out.stdout
    out = subprocess.run([os.path.join(BIN_DIR, "mqbroker"), "-p", "-n", "127.0.0.1:1"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "namesrvAddr=127.0.0.1:1" in out.stdout and "flushDiskType=ASYNC_FLUSH" in out.stdout
    bad = "/tmp/rmq-bad-%d.conf" % os.getpid()
    with open(bad, "w") as f:
        f.write("flushDiskType=SOMETIMES\n")
    out = subprocess.run([os.path.join(BIN_DIR, "mqbroker"), "-c", bad], capture_output=True, text=True, timeout=30)
    os.unlink(bad)
    assert out.returncode != 0 and "flushDiskType=SOMETIMES" in (out.stdout + out.stderr)


def _query(c, topic, key, unique=False):
    ext = {"topic": topic, "key": key, "maxNum": 32, "beginTimestamp": "0", "endTimestamp": str(2 ** 62)}
    if unique:
        ext["_UNIQUE_KEY_QUERY"] = "true"
    return invoke(c.broker_addr, 12, ext)


def test_messages_are_found_by_key_and_by_message_id_after_a_crash(own_cluster, unique):
    c = own_cluster
    topic = "QueryTopic_" + unique
    p = producer(c, "PG_" + unique)
    ids = {}
    for i in range(12):
        result = p.send_sync(message(topic, "q-%d" % i, keys="order-%d item-%d" % (i % 3, i)))
        ids[result.msg_id] = b"q-%d" % i
    p.shutdown()
    c.broker.kill(signal.SIGKILL)
    c.start_broker()
    found = _query(c, topic, "order-1")
    assert found.code == 0
    assert sorted(body for _, body, _ in stored_records(found.body)) == sorted(b"q-%d" % i for i in (1, 4, 7, 10))
    for msg_id, body in ids.items():
        by_id = _query(c, topic, msg_id, unique=True)
        assert by_id.code == 0, "message id %s not found" % msg_id
        [(offset, found_body, properties)] = stored_records(by_id.body)
        assert found_body == body and msg_id in properties
        viewed = invoke(c.broker_addr, 33, {"offset": str(offset)})
        assert viewed.code == 0 and stored_records(viewed.body)[0][1] == body
    missing = _query(c, topic, "no-such-key")
    assert missing.code == 22 and "can not find message" in missing.remark
