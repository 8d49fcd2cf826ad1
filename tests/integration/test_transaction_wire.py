"""Transactions over the wire, played byte by byte from the spec (remoting spec 1.1, 4.1, 4.8).

A raw socket producer frames every request itself (length | type+header length | JSON header |
body): HEART_BEAT with a producer group, a half message via SEND_MESSAGE_V2 with ``TRAN_MSG`` and
sysFlag PREPARED, END_TRANSACTION, and the answer to the broker's CHECK_TRANSACTION_STATE on the
same connection. This checks the broker independently of ``rocketmq_integration``.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

import pytest

from broker_core.message.codec import decode_record, decode_records
from tests.support.admin import ensure_topic
from tests.support.cluster import Cluster

SEND_MESSAGE_V2, PULL_MESSAGE, HEART_BEAT, END_TRANSACTION, CHECK_TRANSACTION_STATE = 310, 11, 34, 37, 39
SUCCESS, SYSTEM_ERROR, PULL_NOT_FOUND = 0, 1, 19
FLAG_RESPONSE, FLAG_ONEWAY = 0x1, 0x2
GROUP = "wire_tx_pg"


@pytest.fixture
def broker_conf() -> dict[str, str]:
    return {"transactionTimeOut": "1000", "transactionCheckInterval": "500"}


def props(**kv: str) -> str:
    return "".join(f"{k}\x01{v}\x02" for k, v in kv.items())


class RawPeer:
    """A client connection that frames and parses RocketMQ commands by hand (JSON headers)."""

    def __init__(self, addr: str) -> None:
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = b""
        self.opaque = 100
        self.requests: list[dict[str, Any]] = []  # server -> client requests seen

    def close(self) -> None:
        self.sock.close()

    def send(self, code: int, ext: dict[str, str], body: bytes = b"", *, oneway: bool = False) -> int:
        self.opaque += 1
        header = {
            "code": code,
            "language": "JAVA",
            "version": 399,
            "opaque": self.opaque,
            "flag": FLAG_ONEWAY if oneway else 0,
            "extFields": ext,
        }
        hbytes = json.dumps(header).encode()
        frame = struct.pack(">II", 4 + len(hbytes) + len(body), len(hbytes)) + hbytes + body
        self.sock.sendall(frame)
        return self.opaque

    def _read_one(self, deadline: float) -> dict[str, Any]:
        while True:
            if len(self.buf) >= 4:
                (length,) = struct.unpack_from(">I", self.buf)
                if len(self.buf) >= 4 + length:
                    (mark,) = struct.unpack_from(">I", self.buf, 4)
                    assert mark >> 24 == 0, "expected a JSON header"
                    hlen = mark & 0xFFFFFF
                    header = json.loads(self.buf[8 : 8 + hlen])
                    header["body"] = self.buf[8 + hlen : 4 + length]
                    self.buf = self.buf[4 + length :]
                    return dict(header)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no frame from the broker in time")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            assert chunk, "broker closed the connection"
            self.buf += chunk

    def call(self, code: int, ext: dict[str, str], body: bytes = b"", timeout: float = 5.0) -> dict[str, Any]:
        opaque = self.send(code, ext, body)
        deadline = time.monotonic() + timeout
        while True:
            cmd = self._read_one(deadline)
            if cmd.get("flag", 0) & FLAG_RESPONSE and cmd["opaque"] == opaque:
                return cmd
            if not cmd.get("flag", 0) & FLAG_RESPONSE:
                self.requests.append(cmd)

    def wait_request(self, code: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for i, cmd in enumerate(self.requests):
            if cmd["code"] == code:
                return self.requests.pop(i)
        while True:
            cmd = self._read_one(deadline)
            if not cmd.get("flag", 0) & FLAG_RESPONSE and cmd["code"] == code:
                return cmd


def heartbeat(peer: RawPeer) -> None:
    body = {"clientID": "127.0.0.1@wire-tx", "producerDataSet": [{"groupName": GROUP}], "consumerDataSet": []}
    assert peer.call(HEART_BEAT, {}, json.dumps(body).encode())["code"] == SUCCESS


def send_half(peer: RawPeer, topic: str, body: bytes, uniq: str) -> dict[str, str]:
    ext = {
        "a": GROUP, "b": topic, "c": "TBW102", "d": "4", "e": "0", "f": "4",
        "g": str(int(time.time() * 1000)), "h": "0",
        "i": props(TRAN_MSG="true", PGROUP=GROUP, UNIQ_KEY=uniq, TAGS="tx", WAIT="true"),
    }  # fmt: skip
    resp = peer.call(SEND_MESSAGE_V2, ext, body)
    assert resp["code"] == SUCCESS, resp.get("remark")
    fields: dict[str, str] = resp["extFields"]
    assert fields["transactionId"] == uniq
    return fields


def end_tx(
    peer: RawPeer, queue_offset: str, commit_log_offset: int, state: int, uniq: str, **extra: str
) -> None:
    ext = {
        "producerGroup": GROUP,
        "tranStateTableOffset": queue_offset,
        "commitLogOffset": str(commit_log_offset),
        "commitOrRollback": str(state),
        "msgId": uniq,
        "transactionId": uniq,
        "fromTransactionCheck": "false",
        **extra,
    }
    peer.send(END_TRANSACTION, ext, oneway=True)


def pull_from_start(peer: RawPeer, topic: str, queue_id: int = 0) -> dict[str, Any]:
    ext = {
        "consumerGroup": "wire_tx_cg", "topic": topic, "queueId": str(queue_id), "queueOffset": "0",
        "maxMsgNums": "32", "sysFlag": "4", "commitOffset": "0", "suspendTimeoutMillis": "0",
        "subVersion": "0", "subscription": "*", "expressionType": "TAG",
    }  # fmt: skip
    return peer.call(PULL_MESSAGE, ext)


def pull_all(peer: RawPeer, topic: str, queue_id: int = 0) -> list[bytes]:
    """Bodies from offset 0; an empty queue must answer PULL_NOT_FOUND, any other error fails."""
    resp = pull_from_start(peer, topic, queue_id)
    if resp["code"] == PULL_NOT_FOUND:
        return []
    assert resp["code"] == SUCCESS, (resp["code"], resp.get("remark"))
    return [m.body for m in decode_records(resp["body"])]


def assert_nothing_visible(peer: RawPeer, topic: str, queue_id: int = 0) -> None:
    """The queue is empty, said in so many words: PULL_NOT_FOUND with max offset 0 (not an error)."""
    resp = pull_from_start(peer, topic, queue_id)
    assert resp["code"] == PULL_NOT_FOUND, (resp["code"], resp.get("remark"))
    ext = resp["extFields"]
    assert (ext["maxOffset"], ext["nextBeginOffset"]) == ("0", "0"), ext


def wait_pulled(peer: RawPeer, topic: str, count: int, timeout: float = 5.0) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while True:
        bodies = pull_all(peer, topic)
        if len(bodies) >= count or time.monotonic() > deadline:
            return bodies
        time.sleep(0.05)  # the op/commit is applied asynchronously after a one-way request


@pytest.fixture
def peer(cluster: Cluster) -> Any:
    p = RawPeer(cluster.broker_addr)
    heartbeat(p)
    yield p
    p.close()


def test_commit_rollback_and_bad_offset(cluster: Cluster, peer: RawPeer) -> None:
    topic = "WireTxTopic"
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=1)
    committed = send_half(peer, topic, b"commit-me", "UNIQ-COMMIT-1")
    rolled = send_half(peer, topic, b"roll-me", "UNIQ-ROLL-1")
    assert_nothing_visible(peer, topic)  # half messages are invisible
    # END_TRANSACTION for an offset where no half message lives: clear error, nothing stored
    bad = peer.call(
        END_TRANSACTION,
        {
            "producerGroup": GROUP, "tranStateTableOffset": "0", "commitLogOffset": "987654321",
            "commitOrRollback": "8", "msgId": "X", "fromTransactionCheck": "false",
        },
    )  # fmt: skip
    assert bad["code"] == SYSTEM_ERROR and "Find prepared transaction message failed" in bad["remark"]
    wrong_group = peer.call(
        END_TRANSACTION,
        {
            "producerGroup": "someone_else", "tranStateTableOffset": committed["queueOffset"],
            "commitLogOffset": str(int(committed["msgId"][16:], 16)), "commitOrRollback": "8",
            "msgId": "UNIQ-COMMIT-1",
        },
    )  # fmt: skip
    assert wrong_group["code"] == SYSTEM_ERROR and "producer group" in wrong_group["remark"]
    for skew in (1, 7, 40):  # an offset inside the half record is no half message either
        inside = peer.call(
            END_TRANSACTION,
            {
                "producerGroup": GROUP, "tranStateTableOffset": committed["queueOffset"],
                "commitLogOffset": str(int(committed["msgId"][16:], 16) + skew), "commitOrRollback": "8",
                "msgId": "UNIQ-COMMIT-1",
            },
        )  # fmt: skip
        assert inside["code"] == SYSTEM_ERROR, inside
    end_tx(peer, committed["queueOffset"], int(committed["msgId"][16:], 16), 8, "UNIQ-COMMIT-1")
    end_tx(peer, rolled["queueOffset"], int(rolled["msgId"][16:], 16), 12, "UNIQ-ROLL-1")
    assert wait_pulled(peer, topic, 1) == [b"commit-me"]
    # positive control: a transaction committed after the rollback; once it is visible, the rollback
    # (handled before it on this connection) has been applied, and it wrote nothing to the topic
    control = send_half(peer, topic, b"control", "UNIQ-CONTROL-1")
    end_tx(peer, control["queueOffset"], int(control["msgId"][16:], 16), 8, "UNIQ-CONTROL-1")
    assert wait_pulled(peer, topic, 2) == [b"commit-me", b"control"]


def test_check_back_answered_on_own_connection(cluster: Cluster, peer: RawPeer) -> None:
    topic = "WireTxCheckTopic"
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=1)
    half = send_half(peer, topic, b"decide-later", "UNIQ-CHECK-1")
    end_tx(peer, half["queueOffset"], int(half["msgId"][16:], 16), 0, "UNIQ-CHECK-1")  # UNKNOW: ignored
    check = peer.wait_request(CHECK_TRANSACTION_STATE, timeout=10)
    ext = check["extFields"]
    assert ext["msgId"] == "UNIQ-CHECK-1" and ext["transactionId"] == "UNIQ-CHECK-1"
    msg = decode_record(check["body"])
    assert msg.topic == topic and msg.body == b"decide-later"
    assert msg.properties["TRANSACTION_CHECK_TIMES"] == "1"
    assert int(ext["commitLogOffset"]) == msg.commit_log_offset
    assert_nothing_visible(peer, topic)
    end_tx(
        peer, ext["tranStateTableOffset"], int(ext["commitLogOffset"]), 8, "UNIQ-CHECK-1",
        fromTransactionCheck="true",
    )  # fmt: skip
    assert wait_pulled(peer, topic, 1) == [b"decide-later"]


@pytest.mark.parametrize(
    "broker_conf",
    [{"transactionTimeOut": "300", "transactionCheckInterval": "300", "transactionCheckMax": "2"}],
)
def test_unanswered_half_message_discarded_after_max_checks(cluster: Cluster, peer: RawPeer) -> None:
    topic = "WireTxDiscardTopic"
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=1)
    send_half(peer, topic, b"never-decided", "UNIQ-DISCARD-1")
    times = [peer.wait_request(CHECK_TRANSACTION_STATE, timeout=10) for _ in range(2)]
    assert [decode_record(c["body"]).properties["TRANSACTION_CHECK_TIMES"] for c in times] == ["1", "2"]
    assert wait_pulled(peer, "TRANS_CHECK_MAX_TIME_TOPIC", 1, timeout=10) == [b"never-decided"]
    assert_nothing_visible(peer, topic)


@pytest.mark.parametrize("broker_conf", [{"transactionTimeOut": "300", "transactionCheckInterval": "300"}])
def test_check_immunity_postpones_the_first_check(cluster: Cluster, peer: RawPeer) -> None:
    topic = "WireTxImmuneTopic"
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=1)
    ext = {
        "a": GROUP, "b": topic, "c": "TBW102", "d": "4", "e": "0", "f": "4",
        "g": str(int(time.time() * 1000)), "h": "0",
        "i": props(TRAN_MSG="true", PGROUP=GROUP, UNIQ_KEY="UNIQ-IMMUNE-1", CHECK_IMMUNITY_TIME_IN_SECONDS="2"),
    }  # fmt: skip
    sent = time.monotonic()
    assert peer.call(SEND_MESSAGE_V2, ext, b"immune")["code"] == SUCCESS
    check = peer.wait_request(CHECK_TRANSACTION_STATE, timeout=10)
    assert time.monotonic() - sent >= 1.9  # not before the message's own immunity (2 s > 300 ms)
    msg = decode_record(check["body"])
    assert msg.body == b"immune" and msg.properties["TRAN_PREPARED_QUEUE_OFFSET"] == "0"


@pytest.mark.parametrize("broker_conf", [{"rejectTransactionMessage": "true"}])
def test_reject_transaction_message(cluster: Cluster, peer: RawPeer) -> None:
    ext = {
        "a": GROUP, "b": "WireTxRejected", "c": "TBW102", "d": "4", "e": "0", "f": "4",
        "g": str(int(time.time() * 1000)), "h": "0", "i": props(TRAN_MSG="true", PGROUP=GROUP),
    }  # fmt: skip
    resp = peer.call(SEND_MESSAGE_V2, ext, b"nope")
    assert resp["code"] == 16 and "transaction message is forbidden" in resp["remark"]  # NO_PERMISSION


@pytest.mark.parametrize("broker_conf", [{"transactionTimeOut": "1000", "transactionCheckInterval": "300"}])
def test_half_message_survives_broker_restart(cluster: Cluster) -> None:
    topic = "WireTxRestartTopic"
    ensure_topic(cluster.broker_addr, cluster.namesrv_addr, topic, queues=1)
    first = RawPeer(cluster.broker_addr)
    heartbeat(first)
    send_half(first, topic, b"across-restart", "UNIQ-RESTART-1")
    first.close()
    cluster.broker.restart()  # before the check could happen (1 s timeout)
    peer = RawPeer(cluster.broker_addr)
    try:
        heartbeat(peer)
        check = peer.wait_request(CHECK_TRANSACTION_STATE, timeout=10)
        ext = check["extFields"]
        assert decode_record(check["body"]).body == b"across-restart"
        end_tx(
            peer, ext["tranStateTableOffset"], int(ext["commitLogOffset"]), 8, "UNIQ-RESTART-1",
            fromTransactionCheck="true",
        )  # fmt: skip
        assert wait_pulled(peer, topic, 1) == [b"across-restart"]
    finally:
        peer.close()
