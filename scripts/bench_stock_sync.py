"""Sync-send throughput of the stock C++ client against a running cluster (not a test).

Usage: bench_stock_sync.py [NAMESRV] [--threads N] [--count N] [--size BYTES] [--topic T]
Prints one line: threads, messages, seconds, msgs/s, and latency p50/p99 in ms.
"""
import argparse
import os
import tempfile
import threading
import time

os.environ.setdefault("HOME", tempfile.mkdtemp())
from rocketmq.client import Message, Producer, SendStatus  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("namesrv", nargs="?", default="127.0.0.1:9876")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--count", type=int, default=20000)
parser.add_argument("--size", type=int, default=1024)
parser.add_argument("--topic", default="BenchSyncTopic")
args = parser.parse_args()

producer = Producer("PG_BENCH_SYNC", max_message_size=max(4 * 1024 * 1024, args.size * 2))
producer.set_namesrv_addr(args.namesrv)
producer.start()
body = (b"x" * args.size)
warm = Message(args.topic)
warm.set_body(body)
producer.send_sync(warm)

latencies, failures = [], [0]
lock = threading.Lock()


def worker(count):
    mine = []
    for _ in range(count):
        m = Message(args.topic)
        m.set_body(body)
        start = time.perf_counter()
        result = producer.send_sync(m)
        mine.append(time.perf_counter() - start)
        if result.status != SendStatus.OK:
            failures[0] += 1
    with lock:
        latencies.extend(mine)


per_thread = args.count // args.threads
threads = [threading.Thread(target=worker, args=(per_thread,)) for _ in range(args.threads)]
began = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.perf_counter() - began
producer.shutdown()
latencies.sort()
total = per_thread * args.threads
print("threads=%d messages=%d size=%d seconds=%.2f msgs_per_s=%.0f p50_ms=%.3f p99_ms=%.3f failures=%d" % (
    args.threads, total, args.size, elapsed, total / elapsed, latencies[len(latencies) // 2] * 1000,
    latencies[int(len(latencies) * 0.99)] * 1000, failures[0]))
