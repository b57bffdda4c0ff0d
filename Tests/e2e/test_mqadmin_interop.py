"""mqadmin and the Swift client against real processes, interoperating with the stock C++ client."""
import os
import subprocess

from clients import SendStatus, message, producer, push_consumer
from harness import BIN_DIR


def mqadmin(c, *args):
    return subprocess.run([os.path.join(BIN_DIR, "mqadmin"), args[0], "-n", c.namesrv_addr] + list(args[1:]),
                          capture_output=True, text=True, timeout=60)


def test_swift_producer_message_reaches_the_stock_consumer(cluster, unique):
    topic = "InteropSwift_" + unique
    created = mqadmin(cluster, "updateTopic", "-t", topic, "-c", "DefaultCluster", "-r", "4", "-w", "4")
    assert created.returncode == 0, created.stderr
    c, got = push_consumer(cluster, "CG_interop_" + unique, topic, "TagS")
    try:
        sent = mqadmin(cluster, "sendMessage", "-t", topic, "-p", "from swift", "-k", "sk1", "-c", "TagS")
        assert sent.returncode == 0, sent.stderr
        msg_id = sent.stdout.splitlines()[1].split()[-1]
        got.wait_for(1)
        received = got.messages[0]
        assert received.body == b"from swift" and received.tags == b"TagS" and received.keys == b"sk1"
        assert received.id == msg_id, "the stock client sees the Swift client's message id"
    finally:
        c.shutdown()


def test_stock_producer_messages_are_read_and_found_by_mqadmin(cluster, unique):
    topic = "InteropStock_" + unique
    p = producer(cluster, "PG_" + unique)
    results = [p.send_sync(message(topic, "stock-%d" % i, tags="TagC", keys="ck%d" % i)) for i in range(5)]
    p.shutdown()
    assert all(r.status == SendStatus.OK for r in results)
    consumed = mqadmin(cluster, "consumeMessage", "-t", topic)
    assert consumed.returncode == 0, consumed.stderr
    assert sorted(line.split("body=")[1] for line in consumed.stdout.splitlines()) == ["stock-%d" % i for i in range(5)]
    by_id = mqadmin(cluster, "queryMsgById", "-t", topic, "-i", results[3].msg_id)
    assert by_id.returncode == 0 and "stock-3" in by_id.stdout and "ck3" in by_id.stdout
    by_key = mqadmin(cluster, "queryMsgByKey", "-t", topic, "-k", "ck2")
    assert results[2].msg_id in by_key.stdout
    status = mqadmin(cluster, "topicStatus", "-t", topic)
    assert sum(int(line.split()[3]) for line in status.stdout.splitlines()[1:]) == 5


def test_mqadmin_reports_an_unreachable_name_server():
    out = subprocess.run([os.path.join(BIN_DIR, "mqadmin"), "clusterList", "-n", "127.0.0.1:1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "cannot reach 127.0.0.1:1" in out.stderr


def test_consumer_progress_and_reset_offset_by_time_with_a_stock_consumer(cluster, unique):
    from clients import ConsumerProcess
    from harness import wait_until
    topic = "Progress_" + unique
    group = "CG_progress_" + unique
    p = producer(cluster, "PG_" + unique)
    assert all(p.send_sync(message(topic, "p%d" % i)).status == SendStatus.OK for i in range(8))
    consumer = ConsumerProcess(cluster, group, topic)
    try:
        consumer.wait_for(8)

        def diff_total():
            shown = mqadmin(cluster, "consumerProgress", "-g", group, "-t", topic)
            assert shown.returncode == 0, shown.stderr
            return shown.stdout
        wait_until(lambda: "Diff Total: 0" in diff_total(), 30, interval=1, message="the group's offsets committed")
        rows = [line.split() for line in diff_total().splitlines() if line.startswith(topic)]
        assert len(rows) == 4 and sum(int(row[3]) for row in rows) == 8, rows  # broker offsets
        listed = mqadmin(cluster, "consumerProgress")
        assert listed.returncode == 0 and group in listed.stdout, listed.stderr

        reset = mqadmin(cluster, "resetOffsetByTime", "-g", group, "-t", topic, "-s", "0")
        assert reset.returncode == 0, reset.stderr
        assert [line.split()[-1] for line in reset.stdout.splitlines()[1:]] == ["0", "0", "0", "0"]
        # The stock client applies RESET_CONSUMER_CLIENT_OFFSET and reads everything again.
        consumer.wait_for(16, timeout=60)
        assert sorted(consumer.bodies()) == sorted([("p%d" % i).encode() for i in range(8)] * 2)
    finally:
        consumer.shutdown()
