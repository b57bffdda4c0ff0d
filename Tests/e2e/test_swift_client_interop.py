"""The Swift client (rocketmq-example) against real processes, with the stock C++ client on the
other side: messages cross in both directions, and transactions are decided across processes."""
import time

import pytest

from clients import ConsumerProcess, SendStatus, message, producer
from harness import Cluster, example, finish, start_example, wait_until


def test_stock_producer_to_swift_push_consumer_with_tag_filter(cluster, unique):
    topic = "StockToSwift_" + unique
    p = producer(cluster, "PG_" + unique)
    big = "B" * 6000  # the stock client compresses bodies of 4 KiB and more
    for i in range(20):
        r = p.send_sync(message(topic, "s%d" % i, tags="TagA" if i % 2 == 0 else "TagB", keys="k%d" % i))
        assert r.status == SendStatus.OK
    assert p.send_sync(message(topic, big, tags="TagA", keys="kbig")).status == SendStatus.OK
    code, lines, err = example(cluster, "push-consume", topic, "CG_" + unique, "--expression", "TagA",
                               "--count", "11", "--timeout", "60", "--from-first")
    assert code == 0, err
    bodies = sorted(line["body"] for line in lines)
    assert bodies == sorted(["s%d" % i for i in range(0, 20, 2)] + [big])
    assert all(line["tags"] == "TagA" and line["topic"] == topic for line in lines)
    assert {line["keys"] for line in lines if line["body"] == "s4"} == {"k4"}


def test_swift_producer_to_stock_push_consumer(cluster, unique):
    topic = "SwiftToStock_" + unique
    code, sent, err = example(cluster, "produce", topic, "PG_" + unique, "--count", "1", "--prefix", "warm")
    assert code == 0, err
    consumer = ConsumerProcess(cluster, "CG_" + unique, topic, "TagS")
    try:
        code, sent, err = example(cluster, "produce", topic, "PG_" + unique, "--count", "15", "--tags", "TagS",
                                  "--prefix", "swift-")
        assert code == 0 and len(sent) == 15, err
        code, big, err = example(cluster, "produce", topic, "PG_" + unique, "--count", "1", "--tags", "TagS",
                                 "--prefix", "big-", "--size", "10000")
        assert code == 0, err
        consumer.wait_for(16)
        bodies = consumer.bodies()
        assert sorted(b for b in bodies if b.startswith(b"swift-")) == sorted(
            ("swift-%d" % i).encode() for i in range(15))
        large = [b for b in bodies if b.startswith(b"big-")]
        assert len(large) == 1 and len(large[0]) == 10000, "a compressed Swift body arrives intact"
    finally:
        consumer.shutdown()


def test_swift_orderly_consumer_and_lite_pull_read_stock_messages(cluster, unique):
    topic = "SwiftOrder_" + unique
    p = producer(cluster, "PG_" + unique)
    for i in range(30):
        assert p.send_orderly(message(topic, "o%d" % i), 7).status == SendStatus.OK
    code, sent, err = example(cluster, "produce", topic, "PG_swift_" + unique, "--count", "20", "--prefix", "k-",
                              "--sharding-key", "order-key")
    assert code == 0 and len({line["queueId"] for line in sent}) == 1, err
    code, lines, err = example(cluster, "push-consume", topic, "CG_order_" + unique, "--orderly", "--count", "50",
                               "--timeout", "60", "--from-first")
    assert code == 0, err
    ordered = [int(line["body"][2:]) for line in lines if line["body"].startswith("k-")]
    assert ordered == list(range(20)), "one sharding key, consumed in send order"
    stock = [int(line["body"][1:]) for line in lines if line["body"].startswith("o")]
    assert stock == list(range(30)), "the stock client's orderly sends, consumed in order"
    code, lines, err = example(cluster, "lite-pull", topic, "CG_lite_" + unique, "--count", "50", "--timeout", "60",
                               "--from-first")
    assert code == 0, err
    assert len({line["body"] for line in lines}) == 50


@pytest.fixture(scope="module")
def tx_cluster():
    c = Cluster(broker_overrides={"transactionTimeOut": 1000, "transactionCheckInterval": 300}).start()
    yield c
    c.stop()
    c.cleanup()


def visible(c, topic, group, expected_count):
    """Bodies a fresh consumer group reads from the topic (waiting up to 4 s for `expected_count`)."""
    code, lines, _ = example(c, "lite-pull", topic, group, "--count", str(expected_count), "--timeout", "4",
                             "--from-first")
    return sorted(line["body"] for line in lines)


def test_transactions_commit_rollback_and_check_back_after_the_producer_died(tx_cluster, unique):
    c = tx_cluster
    topic = "SwiftTx_" + unique
    group = "PG_tx_" + unique
    code, lines, err = example(c, "transaction-send", topic, group, "--body", "tx-commit", "--local", "commit")
    assert code == 0, err
    code, lines, err = example(c, "transaction-send", topic, group, "--body", "tx-rollback", "--local", "rollback")
    assert code == 0, err
    code, lines, err = example(c, "transaction-send", topic, group, "--body", "tx-orphan", "--local", "die")
    assert code == -9, "the producer killed itself before deciding: %s" % err
    assert lines and "halfMsgId" in lines[0], "the half message was stored before it died"
    # Only the committed message is visible while the orphan waits for a producer to ask.
    assert visible(c, topic, "CG_pre_" + unique, 2) == ["tx-commit"]
    server = start_example(c, "transaction-serve", topic, group, "--check", "commit", "--seconds", "20")
    attempts = iter(range(100))
    try:
        wait_until(lambda: visible(c, topic, "CG_post%d_%s" % (next(attempts), unique), 3)
                   == ["tx-commit", "tx-orphan"], 40, interval=0.5,
                   message="the check-back to commit the orphaned transaction")
    finally:
        server.terminate()
        code, lines, err = finish(server)
    checked = [line for line in lines if "checked" in line]
    assert [line["body"] for line in checked] == ["tx-orphan"], "only the undecided transaction is checked"
    # The stock client sees the committed messages too (a consumer process of its own: one stock
    # client instance per process).
    stock = ConsumerProcess(c, "CG_stock_" + unique, topic)
    try:
        stock.wait_for(2)
        time.sleep(1)
        assert sorted(stock.bodies()) == [b"tx-commit", b"tx-orphan"]
    finally:
        stock.shutdown()
