"""The stock RocketMQ C++ client (PyPI rocketmq==0.4.4) against real mqnamesrv + mqbroker processes:
every scenario runs against a single broker and against a 3-node DLedger group."""
import hashlib
import threading
import time

import pytest

from clients import Collector, ConsumerProcess, SendStatus, message, producer, pull_all, push_consumer
from harness import Cluster, DLedgerGroup, wait_until


@pytest.fixture(scope="module", params=["single-broker", "dledger3"])
def cluster(request):
    c = (Cluster() if request.param == "single-broker" else DLedgerGroup()).start()
    yield c
    c.stop()
    c.cleanup()


def test_sync_send_with_tags_and_keys_reaches_push_consumer_filtered_by_tag(cluster, unique):
    topic, group = "TagTopic_" + unique, "CG_tags_" + unique
    p = producer(cluster, "PG_" + unique)
    results = []
    for i in range(12):
        tag = ["TagA", "TagB", "TagC"][i % 3]
        results.append(p.send_sync(message(topic, "m%d" % i, tags=tag, keys="key%d order%d" % (i, i))))
    assert all(r.status == SendStatus.OK for r in results)
    assert len({r.msg_id for r in results}) == 12
    c, got = push_consumer(cluster, group, topic, "TagA || TagB")
    try:
        got.wait_for(8)
        time.sleep(1)  # anything filtered wrongly would arrive within this second
        bodies = sorted(got.bodies())
        assert bodies == sorted(b"m%d" % i for i in range(12) if i % 3 != 2)
        by_body = {m.body: m for m in got.messages}
        assert by_body[b"m0"].tags == b"TagA" and by_body[b"m0"].keys == b"key0 order0"
        assert by_body[b"m1"].tags == b"TagB"
    finally:
        c.shutdown()
        p.shutdown()


def test_orderly_send_by_sharding_key_keeps_per_key_order(cluster, unique):
    topic = "OrderTopic_" + unique
    p = producer(cluster, "PG_" + unique)
    p.send_sync(message(topic, "warmup"))  # creates the topic with its 4 queues
    c, got = push_consumer(cluster, "CG_order_" + unique, topic, orderly=True)
    try:
        sent = 0
        for step in range(15):
            for key in range(4):
                body = "order-%d-%d" % (key, step)
                p.send_orderly(message(topic, body, keys="order-%d" % key), key)
                sent += 1
        got.wait_for(sent + 1, timeout=60)
        for key in range(4):
            steps = [int(b.decode().split("-")[2]) for b in got.bodies() if b.startswith(b"order-%d-" % key)]
            assert steps == list(range(15)), "key %d consumed out of order: %s" % (key, steps)
            queues = {m.queue_id for m in got.messages if m.body.startswith(b"order-%d-" % key)}
            assert len(queues) == 1
    finally:
        c.shutdown()
        p.shutdown()


def _wait_all_ready(p, topic, collectors, timeout=60):
    """Sends probes until every consumer has received one: they have finished rebalancing."""
    deadline = time.time() + timeout
    n = 0
    while time.time() < deadline:
        p.send_sync(message(topic, "probe-%d" % n, tags="probe"))
        n += 1
        time.sleep(0.5)
        if all(any(b.startswith(b"probe") for b in c.bodies()) for c in collectors):
            return
    raise AssertionError("consumers never became ready")


def test_broadcasting_consumers_each_receive_everything(cluster, unique):
    topic, group = "BroadcastTopic_" + unique, "CG_bcast_" + unique
    p = producer(cluster, "PG_" + unique)
    p.send_sync(message(topic, "warmup"))
    got1 = c1 = ConsumerProcess(cluster, group, topic, broadcasting=True)
    got2 = c2 = ConsumerProcess(cluster, group, topic, broadcasting=True)
    try:
        _wait_all_ready(p, topic, [got1, got2])
        expected = {b"bc%d" % i for i in range(20)}
        for body in sorted(expected):
            p.send_sync(message(topic, body))
        for got in (got1, got2):
            wait_until(lambda got=got: expected <= set(got.bodies()), 30, message="broadcast delivery")
    finally:
        c1.shutdown()
        c2.shutdown()
        p.shutdown()


def test_two_clustering_consumers_in_one_group_split_the_queues(cluster, unique):
    topic, group = "ClusterTopic_" + unique, "CG_split_" + unique
    p = producer(cluster, "PG_" + unique)
    p.send_sync(message(topic, "warmup"))
    got1 = c1 = ConsumerProcess(cluster, group, topic)
    got2 = c2 = ConsumerProcess(cluster, group, topic)
    try:
        wait_until(lambda: len(cluster_consumers(cluster, group)) == 2, 30, message="both consumers registered")
        _wait_all_ready(p, topic, [got1, got2])
        expected = {b"split%d" % i for i in range(40)}
        for body in sorted(expected):
            p.send_sync(message(topic, body))
        wait_until(lambda: expected <= set(got1.bodies()) | set(got2.bodies()), 30, message="all split messages")
        real1 = [m for m in got1.messages if m.body in expected]
        real2 = [m for m in got2.messages if m.body in expected]
        assert real1 and real2, "each consumer should get a share"
        assert not ({m.body for m in real1} & {m.body for m in real2}), "a message was consumed by both"
        assert not ({m.queue_id for m in real1} & {m.queue_id for m in real2}), "a queue is shared"
    finally:
        c1.shutdown()
        c2.shutdown()
        p.shutdown()


def cluster_consumers(cluster, group):
    from harness import invoke
    import json
    response = invoke(cluster.broker_addr, 38, {"consumerGroup": group})
    return json.loads(response.body)["consumerIdList"] if response.code == 0 else []


def test_batch_send_stores_each_message(cluster, unique):
    topic = "BatchTopic_" + unique
    p = producer(cluster, "PG_" + unique)
    p.send_sync(message(topic, "warmup"))
    batch = [message(topic, "batch%d" % i, tags="TagA", keys="bk%d" % i) for i in range(10)]
    result = p.send_batch(batch)
    assert result.status == SendStatus.OK
    c, got = push_consumer(cluster, "CG_batch_" + unique, topic)
    try:
        got.wait_for(11)
        batched = [m for m in got.messages if m.body.startswith(b"batch")]
        assert sorted(m.body for m in batched) == sorted(b"batch%d" % i for i in range(10))
        assert {m.keys for m in batched} == {b"bk%d" % i for i in range(10)}
        assert len({m.queue_id for m in batched}) == 1
        offsets = sorted(m.queue_offset for m in batched)
        assert offsets == list(range(offsets[0], offsets[0] + 10)), "a batch takes consecutive queue offsets"
    finally:
        c.shutdown()
        p.shutdown()


def test_async_and_oneway_sends_are_delivered(cluster, unique):
    topic = "AsyncTopic_" + unique
    p = producer(cluster, "PG_" + unique)
    p.send_sync(message(topic, "warmup"))
    done, errors = [], []
    lock = threading.Lock()

    def ok(result):
        with lock:
            done.append(result)

    def failed(error):
        with lock:
            errors.append(error)

    for i in range(10):
        p.send_async(message(topic, "async%d" % i), ok, failed)
    for i in range(10):
        p.send_oneway(message(topic, "oneway%d" % i))
    wait_until(lambda: len(done) + len(errors) == 10, 20, message="async callbacks")
    assert not errors and all(r.status == SendStatus.OK for r in done)
    c, got = push_consumer(cluster, "CG_async_" + unique, topic)
    try:
        got.wait_for(21)
        bodies = set(got.bodies())
        assert {b"async%d" % i for i in range(10)} <= bodies
        assert {b"oneway%d" % i for i in range(10)} <= bodies
    finally:
        c.shutdown()
        p.shutdown()


def test_delay_level_is_honoured(cluster, unique):
    topic = "DelayTopic_" + unique
    p = producer(cluster, "PG_" + unique)
    p.send_sync(message(topic, "warmup"))
    c, got = push_consumer(cluster, "CG_delay_" + unique, topic)
    try:
        _wait_all_ready(p, topic, [got])
        sent_at = time.time()
        p.send_sync(message(topic, "delayed", delay=2))  # level 2 = 3 s in the test broker's table
        p.send_sync(message(topic, "immediate"))
        wait_until(lambda: b"delayed" in got.bodies(), 30, message="delayed message")
        by_body = {m.body: m for m in got.messages}
        assert by_body[b"immediate"].arrived - sent_at < 2.5
        assert by_body[b"delayed"].arrived - sent_at >= 2.8
        assert by_body[b"delayed"].topic == topic
    finally:
        c.shutdown()
        p.shutdown()


def test_failed_consume_is_redelivered_through_retry_topic(cluster, unique):
    topic = "RetryTopic_" + unique
    p = producer(cluster, "PG_" + unique)
    p.send_sync(message(topic, "warmup"))
    got = Collector(fail_first=lambda m: m.body == b"flaky")
    c, _ = push_consumer(cluster, "CG_retry_" + unique, topic, collector=got)
    try:
        p.send_sync(message(topic, "flaky", tags="TagR", keys="flaky-key"))
        wait_until(lambda: b"flaky" in got.bodies(), 40, message="redelivery")
        redelivered = [m for m in got.messages if m.body == b"flaky"][0]
        assert redelivered.reconsume_times == 1
        assert redelivered.topic == topic
        assert redelivered.tags == b"TagR" and redelivered.keys == b"flaky-key"
        retry_route = cluster.route("%RETRY%CG_retry_" + unique)
        assert retry_route is not None
    finally:
        c.shutdown()
        p.shutdown()


def test_pull_consumer_reads_with_tag_filter(cluster, unique):
    topic = "PullTopic_" + unique
    p = producer(cluster, "PG_" + unique)
    for i in range(9):
        p.send_sync(message(topic, "pull%d" % i, tags="TagA" if i % 3 else "TagB"))
    p.shutdown()
    bodies = pull_all(cluster, "CG_pull_" + unique, topic, "TagA")
    assert sorted(bodies) == sorted(b"pull%d" % i for i in range(9) if i % 3)


def test_large_compressed_body_is_delivered_intact(cluster, unique):
    topic = "BigTopic_" + unique
    p = producer(cluster, "PG_" + unique, max_message_size=4 * 1024 * 1024)
    body = b"".join(hashlib.sha256(b"%d" % (i // 7)).hexdigest().encode() for i in range(200 * 1024 // 64))
    assert len(body) >= 200 * 1024
    assert p.send_sync(message(topic, body)).status == SendStatus.OK
    c, got = push_consumer(cluster, "CG_big_" + unique, topic)
    try:
        got.wait_for(1)
        assert got.bodies()[0] == body
    finally:
        c.shutdown()
        p.shutdown()
