"""Sends ten messages with tags and keys, then consumes them with a push consumer (stock client)."""
import os
import sys
import time

from rocketmq.client import Message, Producer, PushConsumer

namesrv = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9876"
os.makedirs(os.environ.get("HOME", "."), exist_ok=True)
topic = "QuickStartTopic"
run_id = str(int(time.time()))

producer = Producer("PG_QUICKSTART")
producer.set_namesrv_addr(namesrv)
producer.start()
for i in range(10):
    message = Message(topic)
    message.set_tags("TagA")
    message.set_keys("order-%s-%d" % (run_id, i))
    message.set_body("hello RocketMQ %s #%d" % (run_id, i))
    result = producer.send_sync(message)
    print("sent     hello #%d  status=%s msgId=%s queueOffset=%s" % (i, result.status.name, result.msg_id, result.offset))
producer.shutdown()

received = []
consumer = PushConsumer("CG_QUICKSTART_" + run_id)
consumer.set_namesrv_addr(namesrv)
consumer.subscribe(topic, lambda m: received.append(m.body.decode()) if run_id in m.body.decode() else None, "TagA")
consumer.start()
deadline = time.time() + 30
while len(received) < 10 and time.time() < deadline:
    time.sleep(0.2)
consumer.shutdown()
for body in sorted(received):
    print("received %s" % body)
print("%d sent, %d received" % (10, len(received)))
sys.exit(0 if len(received) == 10 else 1)
