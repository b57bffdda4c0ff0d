"""A stock-client push consumer in its own process; prints one JSON line per message.

Usage: consumer_process.py NAMESRV GROUP TOPIC EXPRESSION clustering|broadcasting concurrent|orderly
Stops on SIGTERM.
"""
import json
import os
import signal
import sys
import threading
import time

from rocketmq.client import MessageModel, PushConsumer

namesrv, group, topic, expression, model, mode = sys.argv[1:7]
lock = threading.Lock()


def on_message(msg):
    line = json.dumps({
        "body": msg.body.decode("latin-1"), "queue_id": msg.queue_id, "queue_offset": msg.queue_offset,
        "reconsume_times": msg.reconsume_times, "tags": (msg.tags or b"").decode(), "topic": msg.topic.decode()
        if isinstance(msg.topic, bytes) else msg.topic,
    })
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


consumer = PushConsumer(group, orderly=(mode == "orderly"),
                        message_model=MessageModel.BROADCASTING if model == "broadcasting" else MessageModel.CLUSTERING)
consumer.set_namesrv_addr(namesrv)
from clients import subscribe  # noqa: E402

subscribe(consumer, topic, on_message, expression)
consumer.start()
stopped = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopped.set())
parent = os.getppid()


def watch_parent():
    # A test run that dies must not leave consumers behind (they spin reconnecting).
    while not stopped.is_set():
        if os.getppid() != parent:
            stopped.set()
        time.sleep(0.5)


threading.Thread(target=watch_parent, daemon=True).start()
sys.stdout.write("started\n")
sys.stdout.flush()
stopped.wait()
consumer.shutdown()
