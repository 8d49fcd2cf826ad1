"""Helpers for the master/slave process tests: start a pair, send, read back, compare logs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from broker_core.errors import BrokerCoreError
from broker_core.message import decode_records
from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from tests.support import admin
from tests.support.cluster import ServerGroup
from tests.support.net import free_port
from tests.support.process import ConfValue, ServerProcess
from tests.support.wire import pull

T = TypeVar("T")

#: fast heartbeats and reconnects so that the tests do not wait on Apache's 5 s periods
HA_TEST_CONF: dict[str, ConfValue] = {
    "haSendHeartbeatInterval": 1000,
    "haConnectRetryInterval": 200,
    "registerNameServerPeriod": 10000,
}


def wait_for(fn: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``fn`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_master(
    servers: ServerGroup,
    namesrv: ServerProcess,
    role: str,
    conf: dict[str, ConfValue] | None = None,
    *,
    broker_name: str = "broker-a",
    port: int | None = None,
) -> ServerProcess:
    """A master (``role`` ASYNC_MASTER or SYNC_MASTER) with its HA port on a free port."""
    merged = {**HA_TEST_CONF, "haListenPort": free_port(), **(conf or {}), "brokerRole": role}
    return servers.broker(namesrv, conf=merged, broker_name=broker_name, port=port)


def start_slave(
    servers: ServerGroup,
    namesrv: ServerProcess,
    conf: dict[str, ConfValue] | None = None,
    *,
    broker_name: str = "broker-a",
    broker_id: int = 1,
) -> ServerProcess:
    """A SLAVE of ``broker_name`` with ``slaveReadEnable``; it finds its master through the NameServer."""
    merged = {**HA_TEST_CONF, "slaveReadEnable": "true", **(conf or {}), "brokerRole": "SLAVE"}
    return servers.broker(namesrv, conf=merged, broker_name=broker_name, broker_id=broker_id)


def send(
    client: BlockingRemotingClient,
    addr: str,
    topic: str,
    body: bytes,
    queue_id: int = 0,
    *,
    delay_level: int = 0,
) -> RemotingCommand:
    """SEND_MESSAGE_V2 of one message with a KEYS property (and DELAY when ``delay_level``)."""
    props = "KEYS\x01" + body.decode() + "\x02" + (f"DELAY\x01{delay_level}\x02" if delay_level else "")
    ext = {
        "a": "pg", "b": topic, "c": "TBW102", "d": "4", "e": str(queue_id), "f": "0",
        "g": str(int(time.time() * 1000)), "h": "0", "i": props,
    }  # fmt: skip
    return client.invoke(addr, RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, body), 10.0)


def runtime_max_offset(addr: str) -> int:
    resp = admin.invoke(addr, RequestCode.GET_BROKER_RUNTIME_INFO)
    return int(resp.json_body()["table"]["commitLogMaxOffset"])


def read_queue(client: BlockingRemotingClient, addr: str, topic: str, queue_id: int) -> list[bytes] | None:
    """Every body of a queue pulled from ``addr``; None when the broker cannot serve it yet."""
    bodies: list[bytes] = []
    offset = 0
    while True:
        try:
            resp = pull(client, addr, topic, queue_id, offset)
        except (BrokerCoreError, OSError):  # a pooled connection to a restarted broker: retry later
            return None
        if resp.code in (ResponseCode.PULL_NOT_FOUND, ResponseCode.PULL_RETRY_IMMEDIATELY):
            return bodies
        if resp.code != ResponseCode.SUCCESS:
            return None
        msgs = decode_records(resp.body or b"")
        bodies.extend(m.body for m in msgs)
        offset = int((resp.ext_fields or {})["nextBeginOffset"])


def commit_log_bytes(store_dir: Path, upto: int) -> bytes:
    """The commit log of a stopped broker, concatenated from its segments, cut at ``upto``."""
    out = bytearray()
    for seg in sorted((store_dir / "commitlog").iterdir()):
        start = int(seg.name)
        if start >= upto:
            break
        out += seg.read_bytes()[: upto - start]
    return bytes(out)
