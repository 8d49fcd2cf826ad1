"""The broker over the wire, without our client: send/pull/offsets, restart, bad input.

Requests are built by hand from the spec's header tables with the blocking remoting client, so
these tests check the broker independently of ``rocketmq_integration``.
"""

from __future__ import annotations

import os
import socket
import struct
import time

import pytest

from broker_core.message.codec import decode_records
from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from tests.support.cluster import Cluster
from tests.support.wire import create_topic, pull, send

TOPIC = "WireTopic"


@pytest.fixture
def client() -> BlockingRemotingClient:
    c = BlockingRemotingClient()
    yield c  # type: ignore[misc]
    c.close()


def test_send_pull_and_offsets_survive_restart(cluster: Cluster, client: BlockingRemotingClient) -> None:
    addr = cluster.broker_addr
    assert create_topic(client, addr, TOPIC).code == ResponseCode.SUCCESS
    sent = []
    for i in range(50):
        props = {"TAGS": f"T{i % 3}", "KEYS": f"k{i}", "uni": "héllo-✓-中", "UNIQ_KEY": f"{i:032X}"}
        body = f"body-{i}-αβγ".encode() * (1 + i % 7)
        resp = send(
            client,
            addr,
            TOPIC,
            body,
            props,
            queue_id=i % 2,
            serialize_type=SerializeType.ROCKETMQ if i % 2 else SerializeType.JSON,
        )
        assert resp.code == ResponseCode.SUCCESS, resp.remark
        assert resp.serialize_type == (SerializeType.ROCKETMQ if i % 2 else SerializeType.JSON)
        assert resp.ext_fields is not None and len(resp.ext_fields["msgId"]) == 32
        sent.append((i % 2, body, props))
    # commit an offset for queue 0
    upd = {"consumerGroup": "cg", "topic": TOPIC, "queueId": "0", "commitOffset": "7"}
    assert client.invoke(addr, RemotingCommand.request(RequestCode.UPDATE_CONSUMER_OFFSET, upd)).code == 0

    client.close()
    assert cluster.broker.stop() == 0  # SIGTERM: clean shutdown
    cluster.broker.start()

    def read_all(queue_id: int) -> list[tuple[bytes, dict[str, str]]]:
        out: list[tuple[bytes, dict[str, str]]] = []
        offset = 0
        while True:
            resp = pull(client, addr, TOPIC, queue_id, offset)
            if resp.code != ResponseCode.SUCCESS:
                assert resp.code == ResponseCode.PULL_NOT_FOUND, (resp.code, resp.remark)
                return out
            msgs = decode_records(resp.body or b"")
            out += [(m.body, m.properties) for m in msgs]
            offset = int((resp.ext_fields or {})["nextBeginOffset"])

    for q in (0, 1):
        got = read_all(q)
        expected = [(b, p) for (qq, b, p) in sent if qq == q]
        assert [b for b, _ in got] == [b for b, _ in expected]
        for (_, props), (_, exp) in zip(got, expected, strict=True):
            assert {k: props[k] for k in exp} == exp
            assert props["CLUSTER"] == "DefaultCluster"
    q = {"consumerGroup": "cg", "topic": TOPIC, "queueId": "0"}
    resp = client.invoke(addr, RemotingCommand.request(RequestCode.QUERY_CONSUMER_OFFSET, q))
    assert (resp.ext_fields or {})["offset"] == "7"
    mx = client.invoke(
        addr, RemotingCommand.request(RequestCode.GET_MAX_OFFSET, {"topic": TOPIC, "queueId": "0"})
    )
    assert (mx.ext_fields or {})["offset"] == "25"


def test_long_poll_is_answered_when_a_message_arrives(
    cluster: Cluster, client: BlockingRemotingClient
) -> None:
    addr = cluster.broker_addr
    create_topic(client, addr, "PollTopic", queues=1)
    import threading

    result: dict[str, RemotingCommand] = {}
    puller = BlockingRemotingClient()
    t = threading.Thread(
        target=lambda: result.setdefault("r", pull(puller, addr, "PollTopic", 0, 0, suspend_ms=8000))
    )
    started = time.monotonic()
    t.start()
    time.sleep(0.5)
    assert send(client, addr, "PollTopic", b"wake", {}).code == ResponseCode.SUCCESS
    t.join(10)
    puller.close()
    assert result["r"].code == ResponseCode.SUCCESS
    assert time.monotonic() - started < 5
    # and a poll with nothing to find times out with PULL_NOT_FOUND after its suspend time
    started = time.monotonic()
    resp = pull(client, addr, "PollTopic", 0, 1, suspend_ms=1000)
    assert resp.code == ResponseCode.PULL_NOT_FOUND
    assert 0.9 <= time.monotonic() - started < 5


def raw_exchange(addr: str, data: bytes) -> bytes:
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("random bytes", os.urandom(512)),
        ("truncated frame", struct.pack(">ii", 100, 20) + b'{"code":10'),
        ("frame over the max size", struct.pack(">ii", 64 * 1024 * 1024, 10) + b"x" * 10),
        ("JSON header that does not parse", struct.pack(">ii", 4 + 12, 12) + b"{code:10,,,}"),
    ],
)
def test_bad_frames_close_the_connection_and_broker_keeps_serving(
    cluster: Cluster, client: BlockingRemotingClient, name: str, data: bytes
) -> None:
    addr = cluster.broker_addr
    assert raw_exchange(addr, data) == b"", name
    resp = client.invoke(addr, RemotingCommand.request(RequestCode.GET_ALL_TOPIC_CONFIG), 5.0)
    assert resp.code == ResponseCode.SUCCESS
    if name != "truncated frame":  # a truncated frame is just an incomplete read until EOF
        deadline = time.monotonic() + 5
        while "closing connection" not in cluster.broker.log_tail(20000) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "closing connection" in cluster.broker.log_tail(20000)


def test_bad_requests_get_clear_error_responses(cluster: Cluster, client: BlockingRemotingClient) -> None:
    addr = cluster.broker_addr
    resp = client.invoke(addr, RemotingCommand.request(9999), 5.0)
    assert resp.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    assert resp.remark == " request type 9999 not supported"
    resp = send(client, addr, "bad topic name!", b"x", {})
    assert resp.code == ResponseCode.SYSTEM_ERROR and "illegal characters" in (resp.remark or "")
    resp = send(client, addr, "SCHEDULE_TOPIC_XXXX", b"x", {})
    assert resp.code == ResponseCode.NO_PERMISSION
    resp = client.invoke(addr, RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, {"b": "T"}, b"x"), 5.0)
    assert resp.code == ResponseCode.SYSTEM_ERROR and "missing" in (resp.remark or "")
    resp = send(client, addr, TOPIC + "X", b"x" * (4 * 1024 * 1024 + 1), {}, code=RequestCode.SEND_MESSAGE)
    assert resp.code == ResponseCode.MESSAGE_ILLEGAL
    resp = client.invoke(addr, RemotingCommand.request(RequestCode.HEART_BEAT, None, b"not json"), 5.0)
    assert resp.code == ResponseCode.SYSTEM_ERROR
    resp = pull(client, addr, "NoSuchTopic", 0, 0)
    assert resp.code == ResponseCode.TOPIC_NOT_EXIST
    # still serving
    assert send(client, addr, TOPIC + "Y", b"ok", {}).code == ResponseCode.SUCCESS


def test_runtime_info_reports_store_and_schedule_progress(
    cluster: Cluster, client: BlockingRemotingClient
) -> None:
    resp = client.invoke(
        cluster.broker_addr, RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO), 5.0
    )
    assert resp.code == ResponseCode.SUCCESS
    import json

    table = json.loads(resp.body or b"{}")["table"]
    assert table["brokerVersion"] == "409"
    assert int(table["commitLogMaxOffset"]) >= 0
    assert table["scheduleMessageOffset_3"] == "0,0"
    assert len([k for k in table if k.startswith("scheduleMessageOffset_")]) == 18


def test_pull_ahead_of_the_groups_subscription_waits_for_the_heartbeat(
    cluster: Cluster, client: BlockingRemotingClient
) -> None:
    """A Java consumer's pulls after a rebalance can overtake the heartbeat with the new version."""
    import threading

    from broker_core.remoting.body.heartbeat import ConsumerData, HeartbeatData, SubscriptionData

    addr = cluster.broker_addr
    create_topic(client, addr, "SubVerTopic", queues=1)
    assert send(client, addr, "SubVerTopic", b"m", {}).code == ResponseCode.SUCCESS

    def heartbeat(version: int) -> None:
        sub = SubscriptionData("SubVerTopic", sub_version=version)
        body = HeartbeatData("127.0.0.1@hb", consumers=[ConsumerData("svg", subscriptions=[sub])]).encode()
        assert client.invoke(addr, RemotingCommand.request(RequestCode.HEART_BEAT, None, body)).code == 0

    def pull_at(version: int) -> RemotingCommand:
        ext = {
            "consumerGroup": "svg", "topic": "SubVerTopic", "queueId": "0", "queueOffset": "0",
            "maxMsgNums": "32", "sysFlag": "0", "commitOffset": "0", "suspendTimeoutMillis": "0",
            "subVersion": str(version), "expressionType": "TAG",
        }  # fmt: skip
        puller = BlockingRemotingClient()
        try:
            return puller.invoke(addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, ext), 10.0)
        finally:
            puller.close()

    heartbeat(100)
    result: dict[str, RemotingCommand] = {}
    t = threading.Thread(target=lambda: result.setdefault("r", pull_at(200)))
    t.start()
    time.sleep(0.15)  # the pull (version 200) is waiting at the broker
    heartbeat(200)
    t.join(10)
    assert result["r"].code == ResponseCode.SUCCESS, result["r"].remark
    # no heartbeat with the version: answered SUBSCRIPTION_NOT_LATEST, after a bounded wait
    started = time.monotonic()
    resp = pull_at(300)
    assert resp.code == ResponseCode.SUBSCRIPTION_NOT_LATEST
    assert 0.3 <= time.monotonic() - started < 5
