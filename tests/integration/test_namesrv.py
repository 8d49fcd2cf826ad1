"""The NameServer as a real subprocess (``python -m broker_core namesrv``) over loopback TCP.

A fake broker registers with a JSON RegisterBrokerBody over its own connection; clients query
routes in both JSON dialects, cluster info, topic lists and KV config. Also covered: expiry of a
silent broker (short expiry set with ``-c``), ROCKETMQ binary headers, bad frames closing only
their own connection, and SIGTERM -> exit code 0.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker_core.remoting.blocking import BlockingConnection
from broker_core.remoting.body import (
    ClusterInfo,
    DataVersion,
    KVTable,
    RegisterBrokerBody,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicList,
    TopicRouteData,
    body_crc32,
)
from broker_core.remoting.codes import RequestCode, ResponseCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.connection import RemotingConnection
from broker_core.remoting.frame import FrameDecoder
from tests.support.cluster import ServerGroup
from tests.support.fixtures import wire_bytes
from tests.support.process import ServerProcess

pytestmark = pytest.mark.timeout(60)

BROKER_ADDR = "127.0.0.1:10911"


def request(
    code: int, *, version: int = 409, body: bytes | None = None, binary: bool = False, **ext: str
) -> RemotingCommand:
    cmd = RemotingCommand.request(
        code, dict(ext) or None, body, serialize_type=SerializeType.ROCKETMQ if binary else SerializeType.JSON
    )
    cmd.version = version
    return cmd


def register_cmd(*topics: str, broker_id: int = 0, addr: str = BROKER_ADDR) -> RemotingCommand:
    table = {t: TopicConfig(t, 4, 4) for t in topics}
    body = RegisterBrokerBody(
        TopicConfigSerializeWrapper(table, DataVersion(int(time.time() * 1000), 1))
    ).encode()
    return request(
        RequestCode.REGISTER_BROKER,
        body=body,
        brokerName="broker-a",
        brokerAddr=addr,
        clusterName="DefaultCluster",
        brokerId=str(broker_id),
        haServerAddr="127.0.0.1:10912",
        compressed="false",
        bodyCrc32=str(body_crc32(body)),
    )


def route(
    conn: BlockingConnection, topic: str, *, version: int = 409, binary: bool = False
) -> RemotingCommand:
    return conn.invoke(
        request(RequestCode.GET_ROUTEINFO_BY_TOPIC, version=version, binary=binary, topic=topic), timeout=5.0
    )


def read_frame(sock: socket.socket, timeout: float = 5.0) -> RemotingCommand | None:
    """One frame from a raw socket, or ``None`` when the peer closed the connection."""
    sock.settimeout(timeout)
    decoder = FrameDecoder()
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        frames = decoder.feed(chunk)
        if frames:
            return frames[0]


def raw_socket(proc: ServerProcess) -> socket.socket:
    return socket.create_connection((proc.host, proc.port), timeout=5.0)


def wait_closed(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True when the server closes ``sock`` within ``timeout`` (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.fixture
def client(namesrv: ServerProcess) -> Iterator[BlockingConnection]:
    conn = BlockingConnection(namesrv.addr)
    try:
        yield conn
    finally:
        conn.close()


def test_register_route_cluster_kv_unregister(namesrv: ServerProcess, client: BlockingConnection) -> None:
    broker = BlockingConnection(namesrv.addr)
    try:
        resp = broker.invoke(register_cmd("OrdersTopic", "AuditTopic"), timeout=5.0)
        assert resp.code == ResponseCode.SUCCESS, resp.remark
        assert resp.body is None

        old = route(client, "OrdersTopic", version=63)  # the C++ client's version
        assert old.code == ResponseCode.SUCCESS
        assert old.body is not None and b'{0:"127.0.0.1:10911"}' in old.body
        new = route(client, "OrdersTopic")
        assert new.body is not None and b'{"0":"127.0.0.1:10911"}' in new.body
        parsed = TopicRouteData.from_json(new.body)
        assert parsed == TopicRouteData.from_json(old.body)
        assert parsed.queue_datas[0].write_queue_nums == 4
        assert parsed.broker_datas[0].master_addr == BROKER_ADDR

        info = client.invoke(request(RequestCode.GET_BROKER_CLUSTER_INFO), timeout=5.0)
        cluster = ClusterInfo.from_json(info.body or b"")
        assert tuple(cluster.cluster_addr_table["DefaultCluster"]) == ("broker-a",)

        topics = client.invoke(request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER), timeout=5.0)
        assert set(TopicList.from_json(topics.body or b"").topic_list) == {"OrdersTopic", "AuditTopic"}
        by_cluster = client.invoke(
            request(RequestCode.GET_TOPICS_BY_CLUSTER, cluster="DefaultCluster"), timeout=5.0
        )
        assert set(TopicList.from_json(by_cluster.body or b"").topic_list) == {"OrdersTopic", "AuditTopic"}

        put = client.invoke(
            request(RequestCode.PUT_KV_CONFIG, namespace="ns", key="k", value="v"), timeout=5.0
        )
        assert put.code == ResponseCode.SUCCESS
        got = client.invoke(request(RequestCode.GET_KV_CONFIG, namespace="ns", key="k"), timeout=5.0)
        assert got.ext_fields == {"value": "v"}
        listed = client.invoke(request(RequestCode.GET_KVLIST_BY_NAMESPACE, namespace="ns"), timeout=5.0)
        assert KVTable.from_json(listed.body or b"").table == {"k": "v"}

        unreg = request(
            RequestCode.UNREGISTER_BROKER,
            brokerName="broker-a",
            brokerAddr=BROKER_ADDR,
            clusterName="DefaultCluster",
            brokerId="0",
        )
        assert broker.invoke(unreg, timeout=5.0).code == ResponseCode.SUCCESS
        gone = route(client, "OrdersTopic")
        assert gone.code == ResponseCode.TOPIC_NOT_EXIST
        assert gone.remark is not None
        assert gone.remark.startswith("No topic route info in name server for the topic: OrdersTopic")
    finally:
        broker.close()


def test_closing_the_broker_connection_removes_its_routes(
    namesrv: ServerProcess, client: BlockingConnection
) -> None:
    broker = BlockingConnection(namesrv.addr)
    assert broker.invoke(register_cmd("Ephemeral"), timeout=5.0).code == ResponseCode.SUCCESS
    assert route(client, "Ephemeral").code == ResponseCode.SUCCESS
    broker.close()
    deadline = time.monotonic() + 5.0
    while route(client, "Ephemeral").code != ResponseCode.TOPIC_NOT_EXIST:
        assert time.monotonic() < deadline, "route survived the broker's connection"
        time.sleep(0.05)


def test_bad_requests_get_errors_not_crashes(namesrv: ServerProcess, client: BlockingConnection) -> None:
    missing = client.invoke(request(RequestCode.REGISTER_BROKER, brokerName="b"), timeout=5.0)
    assert missing.code == ResponseCode.SYSTEM_ERROR
    assert missing.remark is not None and "missing" in missing.remark
    bad_crc = register_cmd("X")
    assert bad_crc.ext_fields is not None
    bad_crc.ext_fields["bodyCrc32"] = "12345"
    resp = client.invoke(bad_crc, timeout=5.0)
    assert (resp.code, resp.remark) == (ResponseCode.SYSTEM_ERROR, "crc32 not match")
    unknown = client.invoke(request(RequestCode.SEND_MESSAGE_V2), timeout=5.0)
    assert unknown.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    assert route(client, "X").code == ResponseCode.TOPIC_NOT_EXIST


def test_binary_requests_get_binary_responses(namesrv: ServerProcess, client: BlockingConnection) -> None:
    # the Java client's captured ROCKETMQ-serialised request, replayed byte for byte
    frame = wire_bytes("java/001-c2s-request-GET_ROUTEINFO_BY_TOPIC.bin")
    with raw_socket(namesrv) as sock:
        sock.sendall(frame)
        head = b""
        sock.settimeout(5.0)
        while len(head) < 8:
            chunk = sock.recv(8 - len(head))
            assert chunk, "connection closed"
            head += chunk
        assert head[4] == SerializeType.ROCKETMQ  # type byte of the response
        rest = b""
        total = int.from_bytes(head[:4], "big") + 4
        while len(head) + len(rest) < total:
            rest += sock.recv(total - len(head) - len(rest))
        (resp,) = FrameDecoder().feed(head + rest)
        assert resp.code == ResponseCode.TOPIC_NOT_EXIST
        assert resp.remark is not None and "FxJavaTopic" in resp.remark

    broker = BlockingConnection(namesrv.addr)
    try:
        assert broker.invoke(register_cmd("BinTopic"), timeout=5.0).code == ResponseCode.SUCCESS
        resp = route(client, "BinTopic", binary=True)
        assert resp.serialize_type == SerializeType.ROCKETMQ
        assert resp.code == ResponseCode.SUCCESS
        assert TopicRouteData.from_json(resp.body or b"").broker_datas[0].master_addr == BROKER_ADDR
    finally:
        broker.close()


def _json_frame(header: bytes, *, header_len: int | None = None, serialize_type: int = 0) -> bytes:
    hlen = len(header) if header_len is None else header_len
    return (4 + len(header)).to_bytes(4, "big") + ((serialize_type << 24) | hlen).to_bytes(4, "big") + header


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff" * 32, id="garbage"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http"),
        pytest.param((0x7FFFFFF0).to_bytes(4, "big") + b"\x00\x00\x00\x10", id="oversized-length"),
        pytest.param(_json_frame(b'{"code":105}', header_len=500), id="header-longer-than-frame"),
        pytest.param(_json_frame(b'{"code":105,'), id="truncated-json-header"),
        pytest.param(_json_frame(b'{"code":105}', serialize_type=7), id="unknown-serialize-type"),
    ],
)
def test_bad_frames_close_only_that_connection(
    namesrv: ServerProcess, client: BlockingConnection, payload: bytes
) -> None:
    assert route(client, "none").code == ResponseCode.TOPIC_NOT_EXIST  # connected before
    with raw_socket(namesrv) as sock:
        sock.sendall(payload)
        assert wait_closed(sock), "namesrv kept a connection that sent a bad frame"
    # the other connection is unaffected, and new ones work
    assert route(client, "none").code == ResponseCode.TOPIC_NOT_EXIST
    fresh = BlockingConnection(namesrv.addr)
    try:
        assert route(fresh, "none").code == ResponseCode.TOPIC_NOT_EXIST
    finally:
        fresh.close()
    assert namesrv.running


def test_silent_broker_expires(servers: ServerGroup, tmp_path: Path) -> None:
    conf = tmp_path / "namesrv.properties"
    conf.write_text("brokerChannelExpiredTime=1000\nscanNotActiveBrokerInterval=200\n", encoding="utf-8")
    ns = servers.namesrv(extra_args=["-c", str(conf)])
    client = BlockingConnection(ns.addr)
    try:
        with raw_socket(ns) as broker_sock:  # stays open but silent
            broker_sock.sendall(RemotingConnection().send_request(register_cmd("Fading")))
            resp = read_frame(broker_sock)
            assert resp is not None and resp.code == ResponseCode.SUCCESS
            assert route(client, "Fading").code == ResponseCode.SUCCESS
            started = time.monotonic()
            while route(client, "Fading").code != ResponseCode.TOPIC_NOT_EXIST:
                assert time.monotonic() - started < 10.0, "broker never expired"
                time.sleep(0.1)
            assert time.monotonic() - started >= 0.5  # not before the expiry time
            assert wait_closed(broker_sock), "expired broker's connection left open"
    finally:
        client.close()


def test_sigterm_exits_zero_and_announces_the_port(servers: ServerGroup) -> None:
    ns = servers.namesrv()
    text = ns.stdout_path.read_text(encoding="utf-8")
    assert f"namesrv listening on 127.0.0.1:{ns.port}" in text
    assert ns.stop() == 0
