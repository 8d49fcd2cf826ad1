"""What the dashboard pages show, read from the cluster with the project's admin client.

Django-free: every function takes a started :class:`~rocketmq_integration.client.Admin` and returns
plain frozen dataclasses, so it is testable against a real broker without a web request. The views
run them through :func:`call`, which opens one admin client per request on a fresh event loop,
bounds the whole call with a timeout and turns every failure to reach the cluster into
:class:`ClusterUnavailable` (shown as a message, never a 500).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from broker_core.broker.groups import PRECREATED_GROUPS
from broker_core.message.model import MessageExt
from broker_core.message.msg_id import decode_offset_msg_id
from rocketmq_integration.client import Admin, ClientConfig
from rocketmq_integration.client.config import AUTO_CREATE_TOPIC_KEY
from rocketmq_integration.errors import RocketMQIntegrationError

__all__ = [
    "DLQ_PREFIX",
    "RETRY_PREFIX",
    "BrokerRow",
    "ClusterUnavailable",
    "GroupDetail",
    "GroupRow",
    "LagRow",
    "QueueRow",
    "TopicDetail",
    "TopicRow",
    "brokers",
    "call",
    "find_by_id",
    "find_by_key",
    "group_detail",
    "groups",
    "topic_detail",
    "topics",
]

T = TypeVar("T")
RETRY_PREFIX = "%RETRY%"
DLQ_PREFIX = "%DLQ%"
#: Topics every broker creates for itself (plus the cluster, broker and ``*_REPLY_TOPIC`` names).
SYSTEM_TOPICS = frozenset(
    {AUTO_CREATE_TOPIC_KEY, "SELF_TEST_TOPIC", "BenchmarkTest", "OFFSET_MOVED_EVENT", "SCHEDULE_TOPIC_XXXX",
     "RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC", "TRANS_CHECK_MAX_TIME_TOPIC",
     "RMQ_SYS_TRACE_TOPIC"}
)  # fmt: skip
SYSTEM_GROUPS = frozenset(PRECREATED_GROUPS) | {"CLIENT_INNER_PRODUCER", "__MONITOR_CONSUMER"}


class ClusterUnavailable(Exception):
    """The NameServer or a broker did not answer (or answered an error); ``str()`` says why."""


async def _bounded(ns: str, timeout: float, fn: Callable[[Admin], Awaitable[T]]) -> T:
    config = ClientConfig(namesrv_addr=ns, mq_client_api_timeout=timeout, connect_timeout=timeout)
    async with Admin(client_config=config) as admin:
        return await asyncio.wait_for(fn(admin), timeout * 3)


def call(ns: str, fn: Callable[[Admin], Awaitable[T]], *, timeout: float = 3.0) -> T:
    """Run ``fn(admin)`` against the NameServer(s) ``ns`` and return its result.

    Raises:
        ClusterUnavailable: no NameServer configured, connection refused, timeout, or an error
            answer from the cluster.
    """
    if not ns.strip():
        raise ClusterUnavailable("no NameServer address is configured (settings.ROCKETMQ['NAME_SERVER'])")
    try:
        return asyncio.run(_bounded(ns, timeout, fn))
    except TimeoutError as exc:
        raise ClusterUnavailable(f"the cluster at {ns} did not answer within {timeout:g}s") from exc
    except (RocketMQIntegrationError, OSError, ValueError) as exc:
        raise ClusterUnavailable(f"cannot read from the cluster at {ns}: {exc}") from exc


def is_system_topic(name: str, cluster_names: set[str]) -> bool:
    return (
        name in SYSTEM_TOPICS
        or name in cluster_names
        or name.endswith("_REPLY_TOPIC")
        or name.lower().startswith("rmq_sys_")
        or name.startswith((RETRY_PREFIX, DLQ_PREFIX))
    )


# ---- cluster ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BrokerRow:
    cluster: str
    name: str
    addr: str
    runtime: dict[str, str]

    @property
    def version(self) -> str:
        return self.runtime.get("brokerVersionDesc", "?")


async def brokers(admin: Admin) -> list[BrokerRow]:
    """Every master broker with its runtime figures (``mqadmin clusterList`` + ``brokerStatus``)."""
    info = await admin.cluster_info()
    cluster_of = {b: c for c, names in info.cluster_addr_table.items() for b in names}
    rows = []
    for name, addr in (await admin.master_addrs()).items():
        rows.append(BrokerRow(cluster_of.get(name, "?"), name, addr, await admin.broker_runtime_info(addr)))
    return rows


# ---- topics -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopicRow:
    name: str
    read_queues: int
    write_queues: int
    perm: int
    messages: int
    system: bool


@dataclass(frozen=True)
class QueueRow:
    broker: str
    queue_id: int
    min_offset: int
    max_offset: int
    last_store_ms: int


@dataclass(frozen=True)
class TopicDetail:
    name: str
    queues: list[QueueRow]
    groups: list[GroupRow]

    @property
    def messages(self) -> int:
        return sum(q.max_offset - q.min_offset for q in self.queues)


async def _cluster_names(admin: Admin) -> set[str]:
    info = await admin.cluster_info()
    return set(info.cluster_addr_table) | set(info.broker_addr_table)


async def topics(admin: Admin, *, include_system: bool = False) -> list[TopicRow]:
    """Topics of every master with their queue counts and stored message count."""
    names = await _cluster_names(admin)
    rows = []
    for name, tc in sorted((await admin.topic_configs()).items()):
        system = is_system_topic(name, names)
        if system and not include_system:
            continue
        stats = await admin.topic_stats(name)
        count = sum(t.max_offset - t.min_offset for t in stats.values())
        rows.append(TopicRow(name, tc.read_queue_nums, tc.write_queue_nums, tc.perm, count, system))
    return rows


async def topic_detail(admin: Admin, topic: str) -> TopicDetail:
    """Per-queue offsets of ``topic`` and the lag of every group consuming it."""
    stats = await admin.topic_stats(topic)
    queues = [
        QueueRow(b, q, t.min_offset, t.max_offset, t.last_update_timestamp) for (_, b, q), t in stats.items()
    ]
    rows = [await _group_row(admin, g, topic) for g in await admin.groups_of_topic(topic)]
    return TopicDetail(topic, queues, rows)


# ---- consumer groups ----------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupRow:
    name: str
    online: int
    lag: int
    consume_tps: float
    message_model: str = ""
    consume_type: str = ""


@dataclass(frozen=True)
class LagRow:
    topic: str
    broker: str
    queue_id: int
    broker_offset: int
    consumer_offset: int
    last_consumed_ms: int

    @property
    def lag(self) -> int:
        return self.broker_offset - self.consumer_offset


@dataclass(frozen=True)
class GroupDetail:
    row: GroupRow
    queues: list[LagRow]
    clients: list[tuple[str, str, str, int]]  # (client id, address, language, version)
    subscriptions: dict[str, str] = field(default_factory=dict)  # topic -> expression
    dlq_messages: int = 0


async def _group_row(admin: Admin, group: str, topic: str | None = None) -> GroupRow:
    stats = await admin.consume_stats(group, topic)
    conn = await admin.consumer_connection(group)
    if conn is None:
        return GroupRow(group, 0, stats.diff_total, stats.consume_tps)
    return GroupRow(
        group,
        len(conn.connections),
        stats.diff_total,
        stats.consume_tps,
        conn.message_model,
        conn.consume_type,
    )


async def groups(admin: Admin, *, include_system: bool = False) -> list[GroupRow]:
    """Subscription groups of every master with online members and total lag."""
    names = sorted(await admin.subscription_groups())
    return [
        await _group_row(admin, g)
        for g in names
        if include_system or not (g in SYSTEM_GROUPS or g.startswith("CID_RMQ_SYS_"))
    ]


async def group_detail(admin: Admin, group: str) -> GroupDetail:
    """Lag per queue (retry topic included), members, subscriptions and the DLQ size of ``group``."""
    stats = await admin.consume_stats(group)
    conn = await admin.consumer_connection(group)
    lag = [
        LagRow(t, b, q, w.broker_offset, w.consumer_offset, w.last_timestamp)
        for (t, b, q), w in stats.offset_table.items()
    ]
    clients = (
        []
        if conn is None
        else [(c.client_id, c.client_addr, c.language, c.version) for c in conn.connections]
    )
    subs = {} if conn is None else {t: str(s.get("subString", "*")) for t, s in conn.subscriptions.items()}
    row = GroupRow(
        group, len(clients), stats.diff_total, stats.consume_tps,
        conn.message_model if conn else "", conn.consume_type if conn else "",
    )  # fmt: skip
    dlq = 0
    if DLQ_PREFIX + group in await admin.topic_list():
        dlq_stats = await admin.topic_stats(DLQ_PREFIX + group)
        dlq = sum(t.max_offset - t.min_offset for t in dlq_stats.values())
    return GroupDetail(row, lag, clients, subs, dlq)


# ---- message lookup -----------------------------------------------------------------------------
async def find_by_key(admin: Admin, topic: str, key: str, limit: int = 32) -> list[MessageExt]:
    """Messages of ``topic`` whose KEYS contain ``key``, newest first."""
    found = await admin.query_message(topic, key, max_num=limit)
    return sorted(found, key=lambda m: m.store_timestamp, reverse=True)


async def find_by_id(admin: Admin, msg_id: str, topic: str = "") -> list[MessageExt]:
    """The message(s) with ``msg_id``: a client msgId (UNIQ_KEY) or a broker offset msgId.

    An offset msgId is only looked up when its store address is one of the cluster's brokers (a
    client msgId has the same length, and its decoded "address" must never be dialled). A client
    msgId needs the topic; without one every non-system topic is searched.
    """
    out: list[MessageExt] = []
    try:
        (host, port), _ = decode_offset_msg_id(msg_id)
    except ValueError:
        host, port = "", 0
    if f"{host}:{port}" in (await admin.master_addrs()).values():
        msg = await admin.view_message(msg_id)
        if not topic or msg.topic == topic:
            out.append(msg)
    if out:
        return out
    if topic:
        candidates = [topic]
    else:
        names = await _cluster_names(admin)
        candidates = [t for t in await admin.topic_list() if not is_system_topic(t, names)]
        candidates += [t for t in await admin.topic_list() if t.startswith((RETRY_PREFIX, DLQ_PREFIX))]
    for t in candidates:
        found = await admin.query_by_uniq_key(t, msg_id)
        if found is not None:
            out.append(found)
    return out
