"""Independent NameServers, and retry/dead-letter handling over the raw protocol."""
import json
import signal

import pytest

from clients import SendStatus, message, producer
from harness import Cluster, invoke, wait_until


@pytest.fixture
def two_namesrv_cluster():
    c = Cluster(namesrv_count=2).start()
    yield c
    c.cleanup()


def test_broker_registers_with_every_nameserver_and_clients_survive_one_going_down(two_namesrv_cluster, unique):
    c = two_namesrv_cluster
    topic = "TwoNsTopic_" + unique
    p = producer(c, "PG_" + unique)  # knows both NameServers: "a;b"
    assert p.send_sync(message(topic, "first")).status == SendStatus.OK
    for address in c.namesrv_addrs:
        route = c.route(topic, address)
        assert route["brokerDatas"][0]["brokerAddrs"]["0"] == c.broker_addr
    c.namesrvs[0].kill(signal.SIGKILL)
    for i in range(20):
        assert p.send_sync(message(topic, "after-%d" % i)).status == SendStatus.OK
    p.shutdown()
    # The survivor still routes the topic, and sees the broker leave when it stops.
    assert c.route(topic, c.namesrv_addrs[1]) is not None
    c.broker.stop()
    wait_until(lambda: c.route(topic, c.namesrv_addrs[1]) is None, 10, message="route removed on broker stop")


def send_raw(c, topic, body, reconsume_times=0, queue_id=0):
    ext = {"producerGroup": "PG_raw", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": 4,
           "queueId": queue_id, "sysFlag": 0, "bornTimestamp": "0", "flag": 0, "properties": "TAGS\x01raw\x02",
           "reconsumeTimes": str(reconsume_times)}
    response = invoke(c.broker_addr, 10, ext, body=body.encode())
    assert response.code == 0, response.remark
    return response


def physical_offset(c, topic, queue_id, queue_offset):
    """The CommitLog offset of a queue's message, read back with a pull."""
    response = invoke(c.broker_addr, 11, {
        "consumerGroup": "CG_inspect", "topic": topic, "queueId": queue_id, "queueOffset": str(queue_offset),
        "maxMsgNums": 1, "sysFlag": 4, "commitOffset": "0", "suspendTimeoutMillis": "0", "subscription": "*",
        "subVersion": "0"})
    assert response.code == 0, response.remark
    import struct
    return struct.unpack(">q", response.body[28:36])[0]


def queue_size(c, topic, queue_id=0):
    return int(invoke(c.broker_addr, 30, {"topic": topic, "queueId": queue_id}).ext["offset"])


def test_send_back_goes_to_dead_letter_queue_after_max_reconsume_times(cluster, unique):
    c = cluster
    topic, group = "DlqTopic_" + unique, "CG_dlq_" + unique
    send_raw(c, topic, "tired", reconsume_times=16)
    send_raw(c, topic, "fresh")
    for queue_offset, body in enumerate(["tired", "fresh"]):
        offset = physical_offset(c, topic, 0, queue_offset)
        response = invoke(c.broker_addr, 36, {"offset": str(offset), "group": group, "delayLevel": 0})
        assert response.code == 0, response.remark
    dlq = "%DLQ%" + group
    assert queue_size(c, dlq) == 1, "the message at 16 reconsumes is dead-lettered"
    assert c.route(dlq) is not None and c.route("%RETRY%" + group) is not None
    # The fresh one waits in the delay ladder (level 3) and then reaches the retry topic.
    wait_until(lambda: queue_size(c, "%RETRY%" + group) == 1, 20, message="retry delivery")
    # delayLevel -1 dead-letters at once.
    offset = physical_offset(c, topic, 0, 1)
    assert invoke(c.broker_addr, 36, {"offset": str(offset), "group": group, "delayLevel": -1}).code == 0
    assert queue_size(c, dlq) == 2


def test_send_back_of_an_unknown_offset_is_an_error(cluster, unique):
    response = invoke(cluster.broker_addr, 36, {"offset": "999999999", "group": "CG_" + unique, "delayLevel": 0})
    assert response.code == 1 and "look message by offset failed" in response.remark


def test_topic_created_by_admin_is_routed(cluster, unique):
    topic = "AdminTopic_" + unique
    response = invoke(cluster.broker_addr, 17, {"topic": topic, "defaultTopic": "TBW102", "readQueueNums": 3,
                                                "writeQueueNums": 3, "perm": 6, "topicFilterType": "SINGLE_TAG",
                                                "order": "false"})
    assert response.code == 0, response.remark
    route = cluster.route(topic)
    assert route["queueDatas"][0]["writeQueueNums"] == 3
    configs = json.loads(invoke(cluster.broker_addr, 21, {}).body)["topicConfigTable"]
    assert configs[topic]["readQueueNums"] == 3
