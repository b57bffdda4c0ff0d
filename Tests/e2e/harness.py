"""Real mqnamesrv/mqbroker processes on 127.0.0.1 for the stock-client end-to-end tests."""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("RMQ_BIN_DIR", os.path.join(ROOT, ".build", "debug"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout=30.0, interval=0.1, message="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, message))


class Process:
    def __init__(self, name, args, log_path):
        self.name, self.args, self.log_path = name, args, log_path
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self):
        self.kill(signal.SIGTERM)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def write_properties(path, values):
    with open(path, "w") as f:
        for key, value in values.items():
            f.write("%s=%s\n" % (key, value))


class Cluster:
    """One NameServer and one broker, each a real process with its own directory."""

    def __init__(self, broker_overrides=None, namesrv_count=1):
        self.dir = tempfile.mkdtemp(prefix="rmq-e2e-")
        self.namesrv_ports = [free_port() for _ in range(namesrv_count)]
        self.namesrv_port = self.namesrv_ports[0]
        self.broker_port = free_port()
        self.namesrv_addrs = ["127.0.0.1:%d" % port for port in self.namesrv_ports]
        self.namesrv_addr = ";".join(self.namesrv_addrs)
        self.broker_addr = "127.0.0.1:%d" % self.broker_port
        self.namesrvs = []
        for index, port in enumerate(self.namesrv_ports):
            ns_conf = os.path.join(self.dir, "namesrv%d.conf" % index)
            write_properties(ns_conf, {
                "listenPort": port, "bindAddress": "127.0.0.1",
                "kvConfigPath": os.path.join(self.dir, "namesrv%d" % index, "kvConfig.json"),
            })
            self.namesrvs.append(Process("mqnamesrv", [os.path.join(BIN_DIR, "mqnamesrv"), "-c", ns_conf],
                                         os.path.join(self.dir, "namesrv%d.log" % index)))
        self.namesrv = self.namesrvs[0]
        self.broker_overrides = broker_overrides or {}
        self.broker_conf, self.broker = self.broker_process("broker-a", self.broker_port, "store", "broker")

    def broker_process(self, name, port, store, file_stem):
        """A master broker `name` of this cluster's NameServers (not started)."""
        conf = os.path.join(self.dir, file_stem + ".conf")
        broker = {
            "brokerClusterName": "DefaultCluster", "brokerName": name, "brokerId": 0,
            "brokerIP1": "127.0.0.1", "bindAddress": "127.0.0.1", "listenPort": port,
            "haListenPort": free_port(), "namesrvAddr": self.namesrv_addr,
            "storePathRootDir": os.path.join(self.dir, store),
            "mappedFileSizeCommitLog": 4 * 1024 * 1024 + 256 * 1024,
            "maxMessageSize": 4 * 1024 * 1024 - 64 * 1024,
            "defaultTopicQueueNums": 4,
            # Short delays so retry and delay tests run in seconds (level 3 is the first retry).
            "messageDelayLevel": "1s 3s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s",
        }
        broker.update(self.broker_overrides)
        write_properties(conf, broker)
        return conf, Process("mqbroker", [os.path.join(BIN_DIR, "mqbroker"), "-c", conf],
                             os.path.join(self.dir, file_stem + ".log"))

    def start(self):
        for process, port in zip(self.namesrvs, self.namesrv_ports):
            process.start()
            wait_until(lambda port=port: can_connect(port), 20, message="NameServer port")
        self.start_broker()
        return self

    def start_broker(self):
        self.broker.start()
        wait_until(lambda: can_connect(self.broker_port), 30, message="broker port")
        for address in self.namesrv_addrs:
            wait_until(lambda address=address: self.route("TBW102", address) is not None, 30,
                       message="broker registration with %s" % address)

    def route(self, topic, namesrv=None):
        response = invoke(namesrv or self.namesrv_addrs[0], 105, {"topic": topic})
        return json.loads(response.body) if response.code == 0 else None

    def stop(self):
        self.broker.stop()
        for process in self.namesrvs:
            process.stop()

    def cleanup(self):
        for process in [self.broker] + self.namesrvs:
            process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def can_connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Response:
    def __init__(self, header, body):
        self.header, self.body = header, body
        self.code = header["code"]
        self.ext = header.get("extFields", {})
        self.remark = header.get("remark")


def encode_frame(code, ext=None, body=b"", opaque=1):
    header = json.dumps({"code": code, "language": "PYTHON", "version": 63, "opaque": opaque,
                         "flag": 0, "remark": "", "extFields": ext or {}}).encode()
    return struct.pack(">ii", 4 + len(header) + len(body), len(header)) + header + body


def read_frame(sock):
    def read_exact(count):
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed after %d of %d bytes" % (len(data), count))
            data += chunk
        return data
    length = struct.unpack(">i", read_exact(4))[0]
    frame = read_exact(length)
    header_length = struct.unpack(">i", frame[:4])[0] & 0xFFFFFF
    return Response(json.loads(frame[4:4 + header_length]), frame[4 + header_length:])


def invoke(address, code, ext=None, body=b"", timeout=10):
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(encode_frame(code, ext, body))
        return read_frame(sock)


def stored_records(body):
    """(physical offset, body, properties) of each stored record in a PULL, QUERY or VIEW body."""
    records, position = [], 0
    while position < len(body):
        size = struct.unpack(">i", body[position:position + 4])[0]
        record = body[position:position + size]
        body_length = struct.unpack(">i", record[84:88])[0]
        topic_length = record[88 + body_length]
        properties = record[91 + body_length + topic_length:].decode("utf-8", "replace")
        records.append((struct.unpack(">q", record[28:36])[0], record[88:88 + body_length], properties))
        position += size
    return records


def read_all(c, topic, queues=4):
    """Every stored body of `topic` on `c.broker_addr` (the master of a group), pulled over the raw
    protocol and inflated as consumers do."""
    bodies = []
    for queue in range(queues):
        offset = 0
        while True:
            response = invoke(c.broker_addr, 11, {
                "consumerGroup": "CG_verify", "topic": topic, "queueId": queue, "queueOffset": str(offset),
                "maxMsgNums": 32, "sysFlag": 4, "commitOffset": "0", "suspendTimeoutMillis": "0",
                "subscription": "*", "subVersion": "0"})
            if response.code != 0:
                break
            position = 0
            while position < len(response.body):
                size = struct.unpack(">i", response.body[position:position + 4])[0]
                body_length = struct.unpack(">i", response.body[position + 84:position + 88])[0]
                body = response.body[position + 88:position + 88 + body_length]
                sys_flag = struct.unpack(">i", response.body[position + 36:position + 40])[0]
                bodies.append(zlib.decompress(body) if sys_flag & 1 else body)  # as consumers inflate
                position += size
            offset = int(response.ext["nextBeginOffset"])
    return bodies


class BrokerGroup:
    """What a NameServer with a group of broker processes shares: `namesrv`, `brokers`, `addrs`."""

    def route(self, topic, namesrv=None):
        response = invoke(namesrv or self.namesrv_addr, 105, {"topic": topic})
        return json.loads(response.body) if response.code == 0 else None

    def runtime(self, n):
        response = invoke(self.addrs[n], 28, {}, timeout=3)
        return json.loads(response.body)["table"]

    def stop(self):
        for broker in self.brokers:
            broker.stop()
        self.namesrv.stop()


class DLedgerGroup(BrokerGroup):
    """One NameServer and a 3-node DLedger group (conf/dledger's keys), each a real process with
    its own directory, ports and DLedger peer port. `broker_addr` is the current master."""

    def __init__(self, broker_overrides=None, size=3, name="RaftNode00"):
        self.dir = tempfile.mkdtemp(prefix="rmq-dledger-")
        self.namesrv_port = free_port()
        self.namesrv_addr = "127.0.0.1:%d" % self.namesrv_port
        self.namesrv_addrs = [self.namesrv_addr]
        self.name = name
        ns_conf = os.path.join(self.dir, "namesrv.conf")
        write_properties(ns_conf, {"listenPort": self.namesrv_port, "bindAddress": "127.0.0.1",
                                   "kvConfigPath": os.path.join(self.dir, "namesrv", "kvConfig.json")})
        self.namesrv = Process("mqnamesrv", [os.path.join(BIN_DIR, "mqnamesrv"), "-c", ns_conf],
                               os.path.join(self.dir, "namesrv.log"))
        self.namesrvs = [self.namesrv]
        self.ports = [free_port() for _ in range(size)]
        peer_ports = [free_port() for _ in range(size)]
        self.peers = ";".join("n%d-127.0.0.1:%d" % (n, port) for n, port in enumerate(peer_ports))
        self.addrs = ["127.0.0.1:%d" % port for port in self.ports]
        self.brokers = []
        self.confs = []
        for n in range(size):
            conf = os.path.join(self.dir, "broker-n%d.conf" % n)
            values = {
                "brokerClusterName": "RaftCluster", "brokerName": name, "listenPort": self.ports[n],
                "namesrvAddr": self.namesrv_addr, "brokerIP1": "127.0.0.1", "bindAddress": "127.0.0.1",
                "storePathRootDir": os.path.join(self.dir, "node%02d" % n),
                "storePathCommitLog": os.path.join(self.dir, "node%02d" % n, "commitlog"),
                "enableDLegerCommitLog": "true", "dLegerGroup": name, "dLegerPeers": self.peers,
                "dLegerSelfId": "n%d" % n, "haListenPort": free_port(),
                "mappedFileSizeCommitLog": 4 * 1024 * 1024 + 256 * 1024,
                "maxMessageSize": 4 * 1024 * 1024 - 64 * 1024,
                "defaultTopicQueueNums": 4,
                "messageDelayLevel": "1s 3s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s",
            }
            values.update(broker_overrides or {})
            write_properties(conf, values)
            self.confs.append(conf)
            self.brokers.append(Process("mqbroker-n%d" % n, [os.path.join(BIN_DIR, "mqbroker"), "-c", conf],
                                        os.path.join(self.dir, "broker-n%d.log" % n)))

    def start(self):
        self.namesrv.start()
        wait_until(lambda: can_connect(self.namesrv_port), 20, message="NameServer port")
        for broker in self.brokers:
            broker.start()
        for port in self.ports:
            wait_until(lambda port=port: can_connect(port), 30, message="broker port %d" % port)
        self.wait_master()
        return self

    def master_addr(self):
        """The master the NameServer names (brokerId 0), or None."""
        route = self.route("TBW102")
        if not route:
            return None
        for data in route["brokerDatas"]:
            if data["brokerName"] == self.name:
                return data["brokerAddrs"].get("0")
        return None

    def wait_master(self, other_than=None, timeout=30):
        wait_until(lambda: self.master_addr() not in (None, other_than), timeout,
                   interval=0.01, message="a master other than %s" % other_than)
        return self.master_addr()

    @property
    def broker_addr(self):
        return self.master_addr()

    def index_of(self, addr):
        return self.addrs.index(addr)

    def leader(self):
        return self.brokers[self.index_of(self.wait_master())]

    def restart(self, n):
        self.brokers[n].start()
        wait_until(lambda: can_connect(self.ports[n]), 30, message="broker n%d port" % n)

    def data_dir(self, n):
        return os.path.join(self.dir, "node%02d" % n, "dledger-n%d" % n, "data")

    def cleanup(self):
        for process in self.brokers + [self.namesrv]:
            if process.proc and process.proc.poll() is None and process.proc.returncode is None:
                try:
                    process.proc.send_signal(signal.SIGCONT)
                except ProcessLookupError:
                    pass
            process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class MasterSlave(BrokerGroup):
    """One NameServer and a master/slave pair (brokerName `broker-a`, brokerId 0 and 1), each a
    real process with its own directory, port and HA port: RocketMQ's classic HA."""

    def __init__(self, role="SYNC_MASTER", master_overrides=None, slave_overrides=None, name="broker-a"):
        self.dir = tempfile.mkdtemp(prefix="rmq-ms-")
        self.name = name
        self.namesrv_port = free_port()
        self.namesrv_addr = "127.0.0.1:%d" % self.namesrv_port
        self.namesrv_addrs = [self.namesrv_addr]
        ns_conf = os.path.join(self.dir, "namesrv.conf")
        write_properties(ns_conf, {"listenPort": self.namesrv_port, "bindAddress": "127.0.0.1",
                                   "kvConfigPath": os.path.join(self.dir, "namesrv", "kvConfig.json")})
        self.namesrv = Process("mqnamesrv", [os.path.join(BIN_DIR, "mqnamesrv"), "-c", ns_conf],
                               os.path.join(self.dir, "namesrv.log"))
        self.ports = [free_port(), free_port()]
        self.ha_ports = [free_port(), free_port()]
        self.addrs = ["127.0.0.1:%d" % port for port in self.ports]
        self.brokers, self.confs = [], []
        for n, (role_n, overrides) in enumerate([(role, master_overrides), ("SLAVE", slave_overrides)]):
            conf = os.path.join(self.dir, "broker-%d.conf" % n)
            values = {
                "brokerClusterName": "DefaultCluster", "brokerName": name, "brokerId": n, "brokerRole": role_n,
                "listenPort": self.ports[n], "haListenPort": self.ha_ports[n], "namesrvAddr": self.namesrv_addr,
                "brokerIP1": "127.0.0.1", "bindAddress": "127.0.0.1",
                "storePathRootDir": os.path.join(self.dir, "store%d" % n),
                "mappedFileSizeCommitLog": 1024 * 1024 + 256 * 1024, "maxMessageSize": 1024 * 1024 - 64 * 1024,
                "defaultTopicQueueNums": 4, "haSendHeartbeatInterval": 1000,
            }
            values.update(overrides or {})
            write_properties(conf, values)
            self.confs.append(conf)
            self.brokers.append(Process("mqbroker-%d" % n, [os.path.join(BIN_DIR, "mqbroker"), "-c", conf],
                                        os.path.join(self.dir, "broker-%d.log" % n)))
        self.master, self.slave = self.brokers

    def start(self):
        self.namesrv.start()
        wait_until(lambda: can_connect(self.namesrv_port), 20, message="NameServer port")
        for n in (0, 1):
            self.start_broker(n)
        self.wait_replicating()
        return self

    def start_broker(self, n):
        self.brokers[n].start()
        wait_until(lambda: can_connect(self.ports[n]), 30, message="broker %d port" % n)
        wait_until(lambda: str(n) in self.broker_addrs(), 30, message="broker %d registered" % n)

    def wait_replicating(self, timeout=30):
        wait_until(lambda: self.runtime(1).get("haConnected") == "true"
                   and self.runtime(0).get("haSlaveConnections") == "1", timeout, message="the slave connected")

    def broker_addrs(self):
        route = self.route("TBW102")
        for data in (route or {}).get("brokerDatas", []):
            if data["brokerName"] == self.name:
                return data["brokerAddrs"]
        return {}

    @property
    def broker_addr(self):
        return self.addrs[0]

    def commitlog_bytes(self, n, end=None):
        """Every CommitLog byte of broker n, segments concatenated, up to `end`."""
        directory = os.path.join(self.dir, "store%d" % n, "commitlog")
        data = b""
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name), "rb") as f:
                data += f.read()
        return data if end is None else data[:end]

    def store_dir(self, n):
        return os.path.join(self.dir, "store%d" % n)

    def cleanup(self):
        for process in self.brokers + [self.namesrv]:
            process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


# The Swift client's examples (rocketmq-example), one JSON line per message.
EXAMPLE = os.path.join(BIN_DIR, "rocketmq-example")


def example(c, command, topic, group, *args, timeout=90):
    """Runs one example command to the end; returns its JSON lines."""
    done = subprocess.run([EXAMPLE, command, "-n", c.namesrv_addr, "-t", topic, "-g", group] + list(args),
                          capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, lines, done.stderr


def start_example(c, command, topic, group, *args):
    return subprocess.Popen([EXAMPLE, command, "-n", c.namesrv_addr, "-t", topic, "-g", group] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=90):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err
