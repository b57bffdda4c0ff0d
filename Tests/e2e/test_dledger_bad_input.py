"""DLedger mode against bad configuration and hostile peers: a clear log line, the node refuses to
start or stays out of the group, and the rest of the group carries on."""
import os
import socket
import subprocess

from clients import SendStatus, message, producer
from harness import BIN_DIR, DLedgerGroup, can_connect, encode_frame, wait_until, write_properties


def send_one(group, topic, name):
    p = producer(group, "PG_" + name, timeout=3000)
    result = p.send_sync(message(topic, "hello " + name))
    p.shutdown()
    return result.status


def test_a_missing_or_unknown_self_id_refuses_to_start(tmp_path):
    base = {"brokerName": "RaftBad", "listenPort": 1, "namesrvAddr": "127.0.0.1:1",
            "storePathRootDir": str(tmp_path / "store"), "enableDLegerCommitLog": "true",
            "dLegerPeers": "n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913"}
    for extra, expected in [({}, "dLegerSelfId"), ({"dLegerSelfId": "n7"}, "n7"),
                            ({"dLegerSelfId": "n0", "dLegerPeers": "n0-nowhere"}, "dLegerPeers")]:
        conf = tmp_path / "broker.conf"
        write_properties(str(conf), {**base, **extra})
        run = subprocess.run([os.path.join(BIN_DIR, "mqbroker"), "-c", str(conf)], capture_output=True,
                             text=True, timeout=60)
        assert run.returncode != 0, "started with %s" % extra
        assert expected in run.stdout + run.stderr, run.stdout + run.stderr


def test_a_member_with_a_different_peer_list_is_refused_and_the_others_carry_on(unique):
    group = DLedgerGroup()
    try:
        # n2 believes in a different group layout (another port for itself): a misconfiguration.
        with open(group.confs[2]) as f:
            text = f.read()
        wrong = group.peers.rsplit(":", 1)[0] + ":1"
        with open(group.confs[2], "w") as f:
            f.write(text.replace(group.peers, wrong))
        group.start()
        assert group.index_of(group.master_addr()) in (0, 1)
        assert send_one(group, "DLBadPeers_" + unique, unique) == SendStatus.OK
        wait_until(lambda: any("different dLegerPeers list" in group.brokers[n].log() for n in (0, 1)), 20,
                   message="a refusal naming the peer list")
        assert group.runtime(2)["brokerRole"] == "SLAVE"
    finally:
        group.cleanup()


def test_a_frame_from_a_stranger_closes_its_connection_and_the_group_carries_on(unique):
    group = DLedgerGroup().start()
    try:
        peer_port = int(group.peers.split(";")[0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", peer_port), timeout=5) as sock:
            sock.sendall(encode_frame(51002, {"group": group.name, "remoteId": "n9", "localId": "n0",
                                              "term": "99", "peers": "0"}, b"\x08"))
            sock.settimeout(5)
            assert sock.recv(1) == b"", "the connection should be closed"
        wait_until(lambda: "sender n9 is not a peer" in group.brokers[0].log(), 10, message="a log line")
        # Garbage on a peer port: closed too, nothing crashes.
        with socket.create_connection(("127.0.0.1", peer_port), timeout=5) as sock:
            sock.sendall(b"\x7f\xff\xff\xff" + os.urandom(64))
            sock.settimeout(5)
            try:
                assert sock.recv(1) == b""
            except ConnectionResetError:
                pass
        assert all(b.alive() for b in group.brokers)
        assert send_one(group, "DLStranger_" + unique, unique) == SendStatus.OK
    finally:
        group.cleanup()


def test_two_of_three_members_elect_a_master_while_the_third_is_unreachable(unique):
    group = DLedgerGroup()
    try:
        group.namesrv.start()
        wait_until(lambda: can_connect(group.namesrv_port), 20, message="NameServer port")
        for n in (0, 1):
            group.brokers[n].start()
        master = group.wait_master(timeout=30)
        assert group.index_of(master) in (0, 1)
        assert send_one(group, "DLTwo_" + unique, unique) == SendStatus.OK
        wait_until(lambda: "unreachable" in group.brokers[group.index_of(master)].log(), 10,
                   message="a log line about the unreachable peer")
    finally:
        group.cleanup()
