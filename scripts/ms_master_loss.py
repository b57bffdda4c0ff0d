"""What losing a master costs stock clients in a master/slave cluster (conf/2m-2s-sync or -async):
write unavailability and read continuity, measured with the stock C++ client (rocketmq==0.4.4).

    python3 scripts/ms_master_loss.py [sync|async] [seconds the master stays down (40)]

Starts the two groups with scripts/master-slave.sh, then:
  * a producer sends to TopicOnA (created on broker-a only) and another to TopicOnBoth (both
    groups), one synchronous send every 5 ms each. (With autoCreateTopicEnable, as in the confs,
    the TopicOnA producer resumes through broker-b once its route refresh finds broker-a without a
    master: the stock client then creates the topic there from TBW102.)
  * a push consumer works through a backlog of 6,000 TopicOnA messages at about 500 a second,
    more than it caches (1,000 per queue), so it must pull the rest after the kill;
  * broker-a's master is killed with SIGKILL, and restarted after the given seconds; 2 s after
    the kill a second consumer group starts and reads the whole backlog.
Prints the longest gap between successful sends of each producer, how many backlog messages each
consumer read while the master was down (from the slave), and one JSON line.
Stops the cluster at the end."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
os.environ["HOME"] = tempfile.mkdtemp(prefix="rmq-ms-loss-")
from rocketmq.client import Message, Producer, PushConsumer  # noqa: E402

mode = sys.argv[1] if len(sys.argv) > 1 else "sync"
down_secs = float(sys.argv[2]) if len(sys.argv) > 2 else 40.0
namesrv = "127.0.0.1:9876"
conf = "conf/2m-2s-%s" % mode
master_port = {"sync": 10911, "async": 20911}[mode]
bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], capture_output=True,
                         text=True, check=True).stdout.strip()

subprocess.run(["scripts/master-slave.sh", "stop"], capture_output=True)
subprocess.run(["rm", "-rf", "run/rmqstore/2m-2s-%s" % mode], check=True)
subprocess.run(["scripts/master-slave.sh", mode, "start"], check=True, stdout=subprocess.DEVNULL)


def admin(*args):
    subprocess.run([os.path.join(bin_dir, "mqadmin")] + list(args) + ["-n", namesrv], check=True,
                   stdout=subprocess.DEVNULL)


admin("updateTopic", "-t", "TopicOnA", "-b", "127.0.0.1:%d" % master_port, "-r", "4", "-w", "4")
admin("updateTopic", "-t", "TopicOnBoth", "-c", "DefaultCluster", "-r", "4", "-w", "4")
time.sleep(4)  # slaves mirror topic configs every 3 s


def make_producer(group):
    p = Producer(group)
    p.set_namesrv_addr(namesrv)
    p.start()
    return p


def message(topic, body):
    m = Message(topic)
    m.set_body(body)
    return m


backlog = ["backlog-%d" % i for i in range(6000)]
loader = make_producer("PG_loss_backlog")
for body in backlog:
    assert loader.send_sync(message("TopicOnA", body)).status.name == "OK"

def start_consumer(group, pause):
    seen = {}
    lock = threading.Lock()

    def on_message(msg):
        time.sleep(pause)
        with lock:
            seen.setdefault(msg.body.decode(), time.time())

    c = PushConsumer(group)
    c.set_namesrv_addr(namesrv)
    c.set_thread_count(1)
    c.subscribe("TopicOnA", on_message)
    c.start()
    return c, seen, lock


consumer, consumed, lock = start_consumer("CG_loss_running", 0.002)

stop = threading.Event()
acks = {"TopicOnA": [], "TopicOnBoth": []}


def send_loop(topic):
    p = make_producer("PG_loss_" + topic)
    n = 0
    while not stop.is_set():
        n += 1
        try:
            if p.send_sync(message(topic, "live-%d" % n)).status.name == "OK":
                acks[topic].append(time.time())
        except Exception:  # noqa: BLE001 - a failed send is what is measured
            pass
        time.sleep(0.005)


threads = [threading.Thread(target=send_loop, args=(topic,), daemon=True) for topic in acks]
for t in threads:
    t.start()
while len(consumed) < 300:
    time.sleep(0.05)
time.sleep(2)
pid = int(open("run/ms-broker-a.pid").read())
killed = time.time()
os.kill(pid, signal.SIGKILL)
time.sleep(2)
late, late_consumed, late_lock = start_consumer("CG_loss_new", 0)
time.sleep(max(0, down_secs - 2))
restarted = time.time()
log = open("run/ms-broker-a.log", "ab")
proc = subprocess.Popen([os.path.join(bin_dir, "mqbroker"), "-c", conf + "/broker-a.properties"], stdout=log,
                        stderr=subprocess.STDOUT)
open("run/ms-broker-a.pid", "w").write(str(proc.pid))
deadline = time.time() + 120
while time.time() < deadline and not (set(backlog) <= set(consumed) and set(backlog) <= set(late_consumed)):
    time.sleep(0.2)
time.sleep(3)
stop.set()
for t in threads:
    t.join()


def longest_gap(stamps):
    stamps = sorted(stamps)
    return max((b - a for a, b in zip(stamps, stamps[1:]) if b > killed - 1), default=None)


def while_down(seen, guard):
    with guard:
        return sum(1 for body, t in seen.items() if body in backlog_set and killed < t < restarted)


backlog_set = set(backlog)
result = {
    "mode": "ms-master-loss", "config": "ms-" + mode, "master_down_s": round(restarted - killed, 2),
    "write_gap_one_group_s": round(longest_gap(acks["TopicOnA"]) or 0, 2),
    "write_gap_two_groups_s": round(longest_gap(acks["TopicOnBoth"]) or 0, 2),
    "running_consumer_read_while_down": while_down(consumed, lock),
    "new_consumer_read_while_down": while_down(late_consumed, late_lock),
    "running_consumer_backlog": len(backlog_set & set(consumed)),
    "new_consumer_backlog": len(backlog_set & set(late_consumed)), "backlog": len(backlog),
}
print("%s: broker-a's master down %.1f s. Writes: the topic on broker-a only stopped for %.1f s, the topic "
      "on both groups for %.2f s at most. Reads while the master was down (from the slave): the running consumer %d "
      "backlog messages, a consumer group started after the kill %d of %d. Backlog consumed in the end: "
      "%d and %d of %d." % (
          result["config"], result["master_down_s"], result["write_gap_one_group_s"],
          result["write_gap_two_groups_s"], result["running_consumer_read_while_down"],
          result["new_consumer_read_while_down"], len(backlog), result["running_consumer_backlog"],
          result["new_consumer_backlog"], len(backlog)))
print(json.dumps(result))
subprocess.run(["scripts/master-slave.sh", "stop"], capture_output=True)
sys.stdout.flush()
os._exit(0)
