"""Blocking admin calls the interop tests and benchmarks need before a consumer starts.

The official C++ client only learns routes on a 30 s poll, so tests create their topic on the
broker (UPDATE_AND_CREATE_TOPIC, 17) and wait until the NameServer routes it
(GET_ROUTEINFO_BY_TOPIC, 105) before starting consumers. Built on
``broker_core.remoting.blocking``; client-level helpers live in ``rocketmq_integration.client``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from broker_core.errors import BrokerCoreError
from broker_core.remoting import fastjson
from broker_core.remoting.blocking import BlockingConnection
from broker_core.remoting.command import RemotingCommand

__all__ = [
    "RawResponse",
    "RemotingError",
    "create_topic",
    "ensure_topic",
    "get_route",
    "invoke",
    "wait_for_route",
]

UPDATE_AND_CREATE_TOPIC = 17
GET_ROUTEINFO_BY_TOPIC = 105
SUCCESS = 0
TOPIC_NOT_EXIST = 17


class RemotingError(RuntimeError):
    """A call failed: connection problem, bad frame, or an unexpected response code."""


@dataclass(frozen=True)
class RawResponse:
    code: int
    remark: str | None
    ext_fields: dict[str, str]
    body: bytes | None

    def json_body(self) -> Any:
        """The body parsed as (possibly fastjson-flavoured) JSON."""
        return fastjson.loads(self.body) if self.body else None


def invoke(
    addr: str,
    code: int,
    ext_fields: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 5.0,
) -> RawResponse:
    """Send one request on a fresh connection to ``addr`` and return its response.

    Raises:
        RemotingError: on connection errors, timeouts or a malformed reply.
    """
    conn = BlockingConnection(addr, connect_timeout=timeout)
    try:
        reply = conn.invoke(RemotingCommand.request(code, ext_fields, body), timeout)
    except BrokerCoreError as exc:
        raise RemotingError(f"request {code} to {addr} failed: {exc!r}") from exc
    finally:
        conn.close()
    return RawResponse(
        code=int(reply.code), remark=reply.remark, ext_fields=dict(reply.ext_fields or {}), body=reply.body
    )


def create_topic(
    broker_addr: str,
    topic: str,
    *,
    queues: int = 4,
    perm: int = 6,
    order: bool = False,
    timeout: float = 5.0,
) -> None:
    """UPDATE_AND_CREATE_TOPIC on one broker (read = write = ``queues``).

    Raises:
        RemotingError: the broker did not answer SUCCESS.
    """
    resp = invoke(
        broker_addr,
        UPDATE_AND_CREATE_TOPIC,
        {
            "topic": topic,
            "defaultTopic": "TBW102",
            "readQueueNums": str(queues),
            "writeQueueNums": str(queues),
            "perm": str(perm),
            "topicFilterType": "SINGLE_TAG",
            "topicSysFlag": "0",
            "order": "true" if order else "false",
        },
        timeout=timeout,
    )
    if resp.code != SUCCESS:
        raise RemotingError(f"UPDATE_AND_CREATE_TOPIC {topic} on {broker_addr}: {resp.code} {resp.remark}")


def get_route(namesrv_addr: str, topic: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The TopicRouteData JSON for ``topic``, or ``None`` if the NameServer does not know it."""
    resp = invoke(namesrv_addr, GET_ROUTEINFO_BY_TOPIC, {"topic": topic}, timeout=timeout)
    if resp.code == TOPIC_NOT_EXIST:
        return None
    if resp.code != SUCCESS:
        raise RemotingError(f"GET_ROUTEINFO_BY_TOPIC {topic}: {resp.code} {resp.remark}")
    route: dict[str, Any] = resp.json_body()
    return route


def wait_for_route(
    namesrv_addr: str,
    topic: str,
    *,
    min_write_queues: int = 1,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Poll the NameServer until ``topic`` has at least ``min_write_queues`` writable queues.

    Raises:
        TimeoutError: not routed within ``timeout`` seconds (the last answer is in the message).
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            route = get_route(namesrv_addr, topic)
            last = route
            if route is not None:
                writable = sum(int(qd.get("writeQueueNums", 0)) for qd in route.get("queueDatas", []))
                if writable >= min_write_queues and route.get("brokerDatas"):
                    return route
        except RemotingError as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"topic {topic!r} not routed by {namesrv_addr} in {timeout:.0f}s; last: {last!r}"
            )
        time.sleep(0.1)


def ensure_topic(
    broker_addr: str,
    namesrv_addr: str,
    topic: str,
    *,
    queues: int = 4,
    order: bool = False,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Create ``topic`` on the broker and wait until the NameServer routes it; return the route."""
    create_topic(broker_addr, topic, queues=queues, order=order)
    return wait_for_route(namesrv_addr, topic, min_write_queues=queues, timeout=timeout)
