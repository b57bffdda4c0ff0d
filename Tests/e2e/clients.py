"""Small wrappers over the stock client (rocketmq==0.4.4, Apache rocketmq-client-cpp 1.2.3)."""
import threading
import time

from rocketmq.client import Message, MessageModel, Producer, PullConsumer, PushConsumer, RecvMessage, SendStatus
from rocketmq.exceptions import ffi_check
from rocketmq.ffi import _CConsumeStatus, dll

from harness import wait_until


# Every stock-client object stays referenced until the process ends: the wheel's __del__ shuts
# the client down a second time and destroys it, which can segfault during a garbage collection
# (seen while pytest formatted a failure). conftest.py leaves the process with os._exit.
_KEEP_ALIVE = []


def message(topic, body, tags=None, keys=None, delay=None, props=None):
    m = Message(topic)
    if tags:
        m.set_tags(tags)
    if keys:
        m.set_keys(keys)
    if delay:
        m.set_delay_time_level(delay)
    for key, value in (props or {}).items():
        m.set_property(key, value)
    m.set_body(body)
    return m


def producer(cluster, group, **options):
    p = Producer(group, **options)
    _KEEP_ALIVE.append(p)
    p.set_namesrv_addr(cluster.namesrv_addr)
    p.start()
    return p


class Received:
    """What a push consumer got, as plain values (the C message is only valid in the callback)."""

    def __init__(self, msg):
        self.topic = msg.topic.decode() if isinstance(msg.topic, bytes) else msg.topic
        self.body = msg.body
        self.tags = msg.tags
        self.keys = msg.keys
        self.id = msg.id
        self.queue_id = msg.queue_id
        self.queue_offset = msg.queue_offset
        self.reconsume_times = msg.reconsume_times
        self.store_timestamp = msg.store_timestamp
        self.born_timestamp = msg.born_timestamp
        self.arrived = time.time()


class Collector:
    def __init__(self, fail_first=None):
        self.lock = threading.Lock()
        self.messages = []
        self.fail_first = fail_first or (lambda m: False)
        self.failed = set()

    def __call__(self, msg):
        received = Received(msg)
        with self.lock:
            if self.fail_first(received) and received.body not in self.failed:
                self.failed.add(received.body)
                raise RuntimeError("fail once: " + repr(received.body))
            self.messages.append(received)

    def bodies(self):
        with self.lock:
            return [m.body for m in self.messages]

    def wait_for(self, count, timeout=40):
        wait_until(lambda: len(self.bodies()) >= count, timeout, message="%d messages (have %d)" % (count, len(self.bodies())))


def push_consumer(cluster, group, topic, expression="*", orderly=False, broadcasting=False, instance=None,
                  collector=None):
    model = MessageModel.BROADCASTING if broadcasting else MessageModel.CLUSTERING
    c = PushConsumer(group, orderly=orderly, message_model=model)
    _KEEP_ALIVE.append(c)
    c.set_namesrv_addr(cluster.namesrv_addr)
    if instance:
        c.set_instance_name(instance)
    collector = collector or Collector()
    subscribe(c, topic, collector, expression)
    c.start()
    return c, collector


def subscribe(consumer, topic, handler, expression):
    """PushConsumer.subscribe through the same C API, returning the consume status explicitly.

    The wheel's own wrapper re-raises the handler's exception inside `finally`, so ctypes
    swallows it and the status the C++ client sees is undefined: RECONSUME_LATER only sometimes.
    """
    ffi_check(dll.Subscribe(consumer._handle, topic.encode(), expression.encode()))

    def on_message(_consumer, msg):
        try:
            handler(RecvMessage(msg))
        except Exception:
            return _CConsumeStatus.RECONSUME_LATER.value
        return _CConsumeStatus.CONSUME_SUCCESS.value

    consumer._register_callback(on_message)


def pull_all(cluster, group, topic, expression="*", rounds=3):
    c = PullConsumer(group)
    _KEEP_ALIVE.append(c)
    c.set_namesrv_addr(cluster.namesrv_addr)
    c.start()
    bodies = []
    try:
        for _ in range(rounds):
            for m in c.pull(topic, expression):
                bodies.append(m.body)
    finally:
        c.shutdown()
    return bodies


__all__ = ["message", "producer", "push_consumer", "pull_all", "Collector", "SendStatus"]


class ProcessMessage:
    def __init__(self, fields):
        self.body = fields["body"].encode("latin-1")
        self.queue_id = fields["queue_id"]
        self.queue_offset = fields["queue_offset"]
        self.reconsume_times = fields["reconsume_times"]
        self.tags = fields["tags"].encode()
        self.topic = fields["topic"]


class ConsumerProcess(Collector):
    """A push consumer running in a separate process (one client instance per process, as deployed)."""

    def __init__(self, cluster, group, topic, expression="*", broadcasting=False, orderly=False):
        super().__init__()
        try:
            self._start(cluster, group, topic, expression, broadcasting, orderly)
        except AssertionError as error:
            # The stock client itself failed to start (not our servers): say so, and try once more.
            print("consumer helper retried after: %s" % error)
            self._start(cluster, group, topic, expression, broadcasting, orderly)

    def _start(self, cluster, group, topic, expression, broadcasting, orderly):
        import os
        import subprocess
        import sys
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "consumer_process.py")
        import tempfile
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, script, cluster.namesrv_addr, group, topic, expression,
             "broadcasting" if broadcasting else "clustering", "orderly" if orderly else "concurrent"],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait(timeout=10)
                self.stderr.seek(0)
                raise AssertionError("consumer process exited (%s) before starting:\n%s" % (
                    self.proc.returncode, self.stderr.read()[-3000:]))
            if line.strip() == "started":
                break
            # The consumer may deliver before its main thread says "started": keep those too.
            self._record(line)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self._record(line)

    def _record(self, line):
        import json
        if line.startswith("{"):
            with self.lock:
                self.messages.append(ProcessMessage(json.loads(line)))

    def shutdown(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
