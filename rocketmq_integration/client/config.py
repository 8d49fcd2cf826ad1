"""Client configuration: frozen dataclasses with the Java client's defaults (remoting spec §6.1).

``ClientConfig`` is shared by everything that talks to the cluster; ``ProducerConfig`` and
``ConsumerConfig`` hold per-group settings. Durations are seconds (floats). Build them at the edge
(CLI, Django settings) and override with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import enum
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from broker_core.remoting.codes import LanguageCode, SerializeType
from rocketmq_integration.errors import ValidationError

__all__ = [
    "DEFAULT_INSTANCE_NAME",
    "ClientConfig",
    "ConsumeFromWhere",
    "ConsumerConfig",
    "ListenerKind",
    "MessageModel",
    "ProducerConfig",
    "unique_instance_name",
]

DEFAULT_INSTANCE_NAME = "DEFAULT"
AUTO_CREATE_TOPIC_KEY = "TBW102"


class MessageModel(enum.Enum):
    """How a group shares messages (the value is the Java enum name sent in heartbeats)."""

    CLUSTERING = "CLUSTERING"
    BROADCASTING = "BROADCASTING"


class ConsumeFromWhere(enum.Enum):
    """Where a group starts on a queue it has no stored offset for (storage spec §3.6)."""

    CONSUME_FROM_LAST_OFFSET = "CONSUME_FROM_LAST_OFFSET"
    CONSUME_FROM_FIRST_OFFSET = "CONSUME_FROM_FIRST_OFFSET"
    CONSUME_FROM_TIMESTAMP = "CONSUME_FROM_TIMESTAMP"


class ListenerKind(enum.Enum):
    """Concurrent listeners may see messages of a queue in parallel; orderly ones never do."""

    CONCURRENTLY = "CONCURRENTLY"
    ORDERLY = "ORDERLY"


def unique_instance_name() -> str:
    """``<pid>#<ns>``: what a Java 4.9.8 client uses when its instance name is ``DEFAULT``."""
    return f"{os.getpid()}#{time.monotonic_ns()}"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Settings of the connection to a cluster (Java ``ClientConfig``).

    Attributes:
        namesrv_addr: ``host:port`` list separated by ``;``.
        instance_name: clients with equal (namesrv, instance name) share one connection set and
            client id. ``DEFAULT`` is replaced by :func:`unique_instance_name` for producers and
            clustering consumers (as Java 4.9.8 does); broadcasting consumers keep it so their
            local offset file path stays stable.
        client_ip: advertised IP in the client id; empty = detect.
        unit_name: appended to the client id (``ip@instance@unit``) when set.
        mq_client_api_timeout: NameServer and admin request timeout.
        poll_name_server_interval: route refresh period.
        route_discovery_first_delay: a subscribed topic without a route is re-queried after this
            delay, then after twice as long, and so on ...
        route_discovery_max_delay: ... up to this period (both capped at the poll interval).
        heartbeat_broker_interval: heartbeat period.
        persist_consumer_offset_interval: offset commit period.
        pull_time_delay_when_exception: back-off after a failed pull.
        serialize_type: header serialisation of our requests (JSON is the interoperable default).
        language: language reported in request headers.
        connect_timeout: TCP connect timeout.
        namespace: 4.9 namespace (``namespace`` client option): topics and groups go on the wire as
            ``<namespace>%<name>`` (retry/DLQ: ``%RETRY%<namespace>%<group>``), so clients of
            different namespaces are isolated on one cluster; callers keep using the plain names.
        access_key / secret_key / security_token: ACL 1.0 credentials; when an access key and a
            secret key are set every request is signed as Apache's ``AclClientRPCHook`` signs it.
    """

    namesrv_addr: str = "127.0.0.1:9876"
    instance_name: str = DEFAULT_INSTANCE_NAME
    client_ip: str = ""
    unit_name: str = ""
    mq_client_api_timeout: float = 3.0
    poll_name_server_interval: float = 30.0
    route_discovery_first_delay: float = 0.5
    route_discovery_max_delay: float = 1.0
    heartbeat_broker_interval: float = 30.0
    persist_consumer_offset_interval: float = 5.0
    pull_time_delay_when_exception: float = 1.0
    serialize_type: SerializeType = SerializeType.JSON
    language: LanguageCode = LanguageCode.PYTHON
    connect_timeout: float = 3.0
    access_key: str = ""
    secret_key: str = ""
    security_token: str = ""
    namespace: str = ""

    def __post_init__(self) -> None:
        for addr in self.namesrv_addrs:
            problem = _addr_problem(addr)
            if problem is not None:
                raise ValidationError(
                    f"invalid namesrv_addr {self.namesrv_addr!r}: {addr!r} {problem}; expected host:port "
                    "such as 127.0.0.1:9876, several separated by ';'"
                )

    @property
    def namesrv_addrs(self) -> list[str]:
        return [a.strip() for a in self.namesrv_addr.split(";") if a.strip()]


def _addr_problem(addr: str) -> str | None:
    host, sep, port = addr.rpartition(":")
    if not sep or not host:
        return "has no port"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"has a bad port {port!r}"
    return None


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    """Java ``DefaultMQProducer`` settings."""

    group: str = "DEFAULT_PRODUCER"
    send_msg_timeout: float = 3.0
    retry_times_when_send_failed: int = 2
    compress_msg_body_over_howmuch: int = 4096
    compress_level: int = 5
    max_message_size: int = 4 * 1024 * 1024
    default_topic_queue_nums: int = 4
    create_topic_key: str = AUTO_CREATE_TOPIC_KEY
    #: write Pub/EndTransaction trace records (``enableMsgTrace``) to ``customized_trace_topic``
    #: (default ``RMQ_SYS_TRACE_TOPIC``)
    enable_msg_trace: bool = False
    customized_trace_topic: str = ""


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """Java ``DefaultMQPushConsumer`` settings (storage spec §3.5).

    Attributes:
        consume_thread_max: how many listener calls run at once (async listeners: tasks; sync
            listeners: threads of a private pool).
        max_reconsume_times: -1 means 16 for concurrent listeners and unlimited for orderly ones.
        consume_concurrently_max_span: pause pulling a queue (concurrent mode) while the offsets
            of its cached messages span more than this (one slow message holds the commit back).
        consume_timeout: minutes a concurrent listener call may take; messages cached longer
            than that since their call started are sent back and released (Java ``consumeTimeout``).
        suspend_current_queue_time: orderly mode: pause of a queue after SUSPEND_CURRENT_QUEUE_A_MOMENT.
        lock_renew_interval: orderly mode: LOCK_BATCH_MQ renewal period (broker lease is 60 s).
        lock_expire: orderly mode: a queue whose lock was not renewed for this long is not consumed.
        offset_store_dir: broadcasting mode keeps offsets in
            ``<dir>/<client id>/<group>/offsets.json``; default ``~/.rocketmq_offsets``.
        consume_timestamp: ``yyyyMMddHHmmss`` for CONSUME_FROM_TIMESTAMP; empty = 30 min ago.
        local_retry_delay: delay before a message whose send-back failed is consumed again.
        shutdown_timeout: how long shutdown waits for in-flight listener calls.
    """

    group: str = "DEFAULT_CONSUMER"
    message_model: MessageModel = MessageModel.CLUSTERING
    consume_from_where: ConsumeFromWhere = ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET
    consume_timestamp: str = ""
    pull_batch_size: int = 32
    consume_message_batch_max_size: int = 1
    pull_threshold_for_queue: int = 1000
    pull_threshold_size_for_queue_mib: int = 100
    consume_concurrently_max_span: int = 2000
    consume_timeout: float = 15.0
    lock_renew_interval: float = 20.0
    lock_expire: float = 30.0
    consume_thread_max: int = 20
    max_reconsume_times: int = -1
    suspend_current_queue_time: float = 1.0
    rebalance_interval: float = 20.0
    broker_suspend_max_time: float = 15.0
    consumer_timeout_when_suspend: float = 30.0
    send_back_timeout: float = 5.0
    local_retry_delay: float = 5.0
    shutdown_timeout: float = 30.0
    offset_store_dir: Path = field(default_factory=lambda: Path.home() / ".rocketmq_offsets")
    #: write SubBefore/SubAfter trace records (``enableMsgTrace``) to ``customized_trace_topic``
    enable_msg_trace: bool = False
    customized_trace_topic: str = ""

    @property
    def effective_max_reconsume_times(self) -> int:
        return 16 if self.max_reconsume_times < 0 else self.max_reconsume_times

    @property
    def orderly_max_reconsume_times(self) -> int:
        return 2**31 - 1 if self.max_reconsume_times < 0 else self.max_reconsume_times
