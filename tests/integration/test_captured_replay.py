"""Replay of the captured C++ session: Apache's answers, field for field, from our servers.

The fixture ``wire/cpp`` holds every frame of a session against Apache RocketMQ 4.9.8 (fixtures
README): the broker's registrations with the NameServer, a helper creating ``FxWireTopic``, and the
official C++ client producing three messages and consuming them. Here the captured *request bytes* are
sent unchanged to our servers, one connection per captured connection, in the captured order, and
each answer is compared with Apache's captured answer:

* NameServer: its own namesrv (no broker of ours registers there); Apache's broker's REGISTER_BROKER
  frames are replayed too, so route and cluster answers describe Apache's broker and must equal
  Apache's, body included (parsed JSON).
* Broker: SEND_MESSAGE x3, HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP,
  QUERY_CONSUMER_OFFSET, PULL_MESSAGE (body: the three stored records, decoded and compared record by
  record), UPDATE_CONSUMER_OFFSET.

Every header field is compared (code, flag, language, version, opaque, remark, extFields). What may
legitimately differ is listed in :data:`MAY_DIFFER` with the reason; nothing else may.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from broker_core.message import decode_records
from broker_core.remoting import fastjson
from broker_core.remoting.codes import RequestCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.frame import FrameDecoder, encode_frame
from tests.support.cluster import ServerGroup
from tests.support.fixtures import wire_bytes, wire_command, wire_index
from tests.support.process import ServerProcess

pytestmark = pytest.mark.timeout(120)

#: (request code name, field) -> why our value may differ from Apache's.
MAY_DIFFER: dict[tuple[str, str], str] = {
    ("*", "language"): "the answering server's own language: PYTHON here, JAVA there",
    ("SEND_MESSAGE", "msgId"): "the store-host part holds the broker's port (10911 there, a free port here); "
    "the commit-log offset part (last 16 hex digits) must be equal and is compared separately",
}
#: record fields that depend on the run, not on the request: when and where it was stored or born.
RECORD_MAY_DIFFER = {"store_timestamp": "time of the run", "store_host": "the broker's port",
                     "born_host": "the client connection's port", "msg_id": "derived from store_host"}  # fmt: skip


#: captured requests whose answer is not in the capture: replayed (the state they set up matters)
#: with our answer unchecked, or not replayed at all, each with the reason.
UNANSWERED = {
    "cpp/029-c2s-request-REGISTER_BROKER.bin": "replayed: a oneway registration (no answer by design) "
    "that registers %RETRY%FxWireConsumerGroup, which 041 then finds",
    "cpp/040-c2s-request-PULL_MESSAGE.bin": "skipped: the long-poll pull the C++ client abandoned at "
    "shutdown; Apache never answered it (ours would hold it 15 s)",
}


@dataclass
class Exchange:
    request: str  # frame file
    response: str | None  # None: replayed, our answer not compared (UNANSWERED)
    port: int  # captured client port: one connection each
    name: str


def exchanges(server: str) -> list[Exchange]:
    """Captured requests to ``server`` (namesrv/broker), in wire order, with Apache's answer."""
    rows = wire_index("cpp")
    responses = {(r["client_port"], r["opaque"]): r["file"] for r in rows if r["kind"] == "response"}
    out = []
    for r in rows:
        if r["kind"] == "request" and r["direction"] == "c2s" and r["server"].startswith(server):
            name = f"cpp/{r['file']}"
            file = responses.get((r["client_port"], r["opaque"]))
            if file is None:
                assert name in UNANSWERED, f"{name} has no captured answer and no reason to skip it"
                if UNANSWERED[name].startswith("skipped"):
                    continue
            out.append(Exchange(name, file and f"cpp/{file}", r["client_port"], r["code_name"]))
    return out


class Replayer:
    """One socket per captured connection; sends captured bytes, returns our answer to each."""

    def __init__(self, addr: str) -> None:
        host, port = addr.rsplit(":", 1)
        self.addr = (host, int(port))
        self.conns: dict[int, tuple[socket.socket, FrameDecoder]] = {}
        self.server_requests: list[RemotingCommand] = []

    def exchange(self, ex: Exchange) -> RemotingCommand:
        if ex.port not in self.conns:
            self.conns[ex.port] = (socket.create_connection(self.addr, timeout=15), FrameDecoder())
        sock, decoder = self.conns[ex.port]
        request = wire_command(ex.request)
        sock.sendall(wire_bytes(ex.request))
        if request.is_oneway:  # a request of ours behind it on the same connection: applied once answered
            request = RemotingCommand(code=RequestCode.GET_BROKER_CLUSTER_INFO, opaque=1 << 30)
            sock.sendall(encode_frame(request))
        pending: list[RemotingCommand] = []
        while True:
            for cmd in pending:
                if cmd.is_response and cmd.opaque == request.opaque:
                    return cmd
                if not cmd.is_response:
                    self.server_requests.append(cmd)
            data = sock.recv(1 << 16)
            assert data, f"{ex.request}: connection closed before the answer"
            pending = decoder.feed(data)

    def close(self) -> None:
        for sock, _ in self.conns.values():
            sock.close()


@pytest.fixture
def replay_servers(tmp_path: Any) -> Iterator[tuple[ServerGroup, ServerProcess, ServerProcess]]:
    group = ServerGroup(tmp_path)
    try:
        lone_namesrv = group.namesrv(name="replay-namesrv")
        broker_ns = group.namesrv(name="broker-namesrv")
        broker = group.broker(broker_ns, conf={"autoCreateTopicEnable": "true", "brokerIP1": "127.0.0.1"})
        yield group, lone_namesrv, broker
    finally:
        group.close()


def header(cmd: RemotingCommand) -> dict[str, Any]:
    return {
        "code": cmd.code, "flag": cmd.flag, "language": cmd.language, "version": cmd.version,
        "opaque": cmd.opaque, "remark": cmd.remark, "extFields": dict(cmd.ext_fields or {}),
    }  # fmt: skip


def compare_headers(name: str, ours: RemotingCommand, apache: RemotingCommand) -> list[str]:
    problems = []
    mine, theirs = header(ours), header(apache)
    for key in ("code", "flag", "language", "version", "opaque", "remark"):
        if ("*", key) not in MAY_DIFFER and mine[key] != theirs[key]:
            problems.append(f"{key}: ours {mine[key]!r}, Apache {theirs[key]!r}")
    ext_mine, ext_theirs = mine["extFields"], theirs["extFields"]
    for key in sorted(set(ext_mine) | set(ext_theirs)):
        if (name, key) in MAY_DIFFER:
            continue
        if ext_mine.get(key) != ext_theirs.get(key):
            problems.append(f"extFields[{key}]: ours {ext_mine.get(key)!r}, Apache {ext_theirs.get(key)!r}")
    return problems


def compare_bodies(name: str, ours: RemotingCommand, apache: RemotingCommand) -> list[str]:
    if not apache.body:
        return [] if not ours.body else [f"body: ours {len(ours.body)} bytes, Apache none"]
    if not ours.body:
        return [f"body: ours none, Apache {len(apache.body)} bytes"]
    if name == "PULL_MESSAGE":
        return compare_records(ours.body, apache.body)
    if apache.body[:1] in (b"{", b"["):
        mine, theirs = fastjson.loads(ours.body), fastjson.loads(apache.body)
        return [] if mine == theirs else [f"body (JSON): ours {mine!r}, Apache {theirs!r}"]
    return [] if ours.body == apache.body else ["body bytes differ"]


def compare_records(ours: bytes, apache: bytes) -> list[str]:
    mine, theirs = decode_records(ours), decode_records(apache)
    if len(mine) != len(theirs):
        return [f"records: ours {len(mine)}, Apache {len(theirs)}"]
    problems = []
    for i, (m, t) in enumerate(zip(mine, theirs, strict=True)):
        for field in sorted(vars(t) if hasattr(t, "__dict__") else t.__slots__):  # type: ignore[attr-defined]
            if field.startswith("_") or field in RECORD_MAY_DIFFER:
                continue
            if getattr(m, field) != getattr(t, field):
                problems.append(
                    f"record {i} {field}: ours {getattr(m, field)!r}, Apache {getattr(t, field)!r}"
                )
    return problems


def replay(addr: str, server: str) -> tuple[list[str], Replayer]:
    rep = Replayer(addr)
    problems = []
    try:
        for ex in exchanges(server):
            ours = rep.exchange(ex)
            if ex.response is None:
                continue
            apache = wire_command(ex.response)
            found = compare_headers(ex.name, ours, apache) + compare_bodies(ex.name, ours, apache)
            if ex.name == "SEND_MESSAGE":
                mine, theirs = (ours.ext_fields or {}).get("msgId", ""), (apache.ext_fields or {})["msgId"]
                if mine[-16:] != theirs[-16:]:
                    found.append(f"msgId commit-log offset: ours {mine[-16:]}, Apache {theirs[-16:]}")
            problems += [f"{ex.request} -> {ex.response}: {p}" for p in found]
    finally:
        rep.close()
    return problems, rep


def test_namesrv_answers_the_captured_session_as_apache_did(
    replay_servers: tuple[ServerGroup, ServerProcess, ServerProcess],
) -> None:
    _, namesrv, _ = replay_servers
    problems, _ = replay(namesrv.addr, "namesrv")
    assert not problems, "\n".join(problems)


def test_broker_answers_the_captured_session_as_apache_did(
    replay_servers: tuple[ServerGroup, ServerProcess, ServerProcess],
) -> None:
    _, _, broker = replay_servers
    problems, rep = replay(broker.addr, "broker")
    assert not problems, "\n".join(problems)
    # Apache told the consumer connection that its group's members changed (030, 031): so did we, and
    # before answering the heartbeat that caused it. Apache sent it twice: the C++ client sent its two
    # identical heartbeats (027, 028) back to back, Apache's heartbeat thread pool registered them
    # concurrently and each thread won one of the two map updates (ConsumerManager.registerConsumer:
    # "r1 || r2"). We register them one after the other: the second changes nothing, so one notice.
    apache = [
        wire_command(f"cpp/{r['file']}")
        for r in wire_index("cpp")
        if r["direction"] == "s2c" and r["kind"] == "request"
    ]
    assert len(apache) == 2 and len(rep.server_requests) == 1
    ours = rep.server_requests[0]
    assert (ours.code, ours.ext_fields, ours.flag) == (apache[0].code, apache[0].ext_fields, apache[0].flag)


def test_comparison_catches_a_changed_answer() -> None:
    """Positive control for the comparison itself (no servers): Apache's answer to the second send
    compared with its answer to the first differs in queueOffset and in the msgId offset, and a
    pulled record with one changed property differs too."""
    first, second = (
        wire_command("cpp/016-s2c-response-SEND_MESSAGE.bin"),
        wire_command("cpp/018-s2c-response-SEND_MESSAGE.bin"),
    )
    assert compare_headers("SEND_MESSAGE", second, first) == [
        "opaque: ours 3, Apache 1",
        "extFields[queueOffset]: ours '1', Apache '0'",
    ]
    pulled = wire_command("cpp/039-s2c-response-PULL_MESSAGE.bin").body or b""
    assert compare_records(pulled, pulled) == []
    tampered = pulled.replace(b"key-1", b"key-9", 1)  # same length: only that property changes
    assert compare_records(tampered, pulled) == [
        "record 0 properties: ours "
        + repr({**decode_records(pulled)[0].properties, "KEYS": "key-9"})
        + ", Apache "
        + repr(decode_records(pulled)[0].properties)
    ]
