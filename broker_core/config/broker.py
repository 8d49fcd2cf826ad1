"""Broker settings and ``broker.conf`` loading.

``broker.conf`` is a Java properties file with Apache RocketMQ key names (``brokerName``,
``flushDiskType``, ``autoCreateTopicEnable`` …). Keys the broker section knows are mapped here;
store keys go to :class:`~broker_core.config.store.StoreConfig`. Unknown keys are reported in the
log (so a typo is visible) but do not stop the broker, as in Apache.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker_core.config.values import parse_enum
from broker_core.errors import ConfigError

DEFAULT_DELAY_LEVELS = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"


class BrokerRole(enum.Enum):
    ASYNC_MASTER = "ASYNC_MASTER"
    SYNC_MASTER = "SYNC_MASTER"
    SLAVE = "SLAVE"


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Broker identity, behaviour switches and timers; each field names its Apache key.

    Attributes:
        broker_cluster_name: ``brokerClusterName``.
        broker_name: ``brokerName``.
        broker_id: ``brokerId`` (0 = master).
        broker_ip1: ``brokerIP1``: the address advertised to the NameServer and clients.
        listen_port: ``listenPort``.
        namesrv_addr: ``namesrvAddr`` (``host:port;host:port``).
        broker_role: ``brokerRole``.
        auto_create_topic_enable: ``autoCreateTopicEnable`` (registers ``TBW102``).
        auto_create_subscription_group: ``autoCreateSubscriptionGroup``.
        default_topic_queue_nums: ``defaultTopicQueueNums`` (queues of ``TBW102``).
        broker_permission: ``brokerPermission`` (6 = RW).
        register_name_server_period_ms: ``registerNameServerPeriod``.
        long_polling_enable: ``longPollingEnable``.
        short_polling_time_mills: ``shortPollingTimeMills``.
        channel_expired_timeout_ms: ``channelExpiredTimeout`` (client heartbeat expiry).
        flush_consumer_offset_interval_ms: ``flushConsumerOffsetInterval``.
        cluster_topic_enable / broker_topic_enable: ``clusterTopicEnable`` / ``brokerTopicEnable``.
        trace_topic_enable / msg_trace_topic_name: ``traceTopicEnable`` / ``msgTraceTopicName``.
        enable_property_filter: ``enablePropertyFilter`` (SQL92).
        acl_enable: ``aclEnable``: verify signed requests against ``plain_acl.yml``
            (:mod:`broker_core.broker.acl`).
        acl_file: ``aclFile`` (ours; Apache's system property ``rocketmq.acl.plain.file``): the
            main ACL file; default ``<rocketmqHome>/conf/plain_acl.yml``. Files under the main
            file's ``acl/`` sibling folder are loaded too.
        acl_watch_interval_ms: ``aclWatchIntervalMs`` (ours): how often the ACL files' modification
            times are checked for hot reload (Apache: 5000).
        metrics_port: ``metricsPort`` (ours): Prometheus ``/metrics`` on ``brokerIP1`` at this port
            (-1 = off, 0 = any free port; see :mod:`broker_core.broker.metrics`).
        rocketmq_home: ``rocketmqHome`` (default: environment ``ROCKETMQ_HOME``, read by the CLI).
        trace_on / region_id: ``traceOn`` / ``regionId``, answered as ``TRACE_ON`` / ``MSG_REGION``
            on every send (the Java client writes a Pub trace only when both are present and on).
        transaction_time_out / transaction_check_max / transaction_check_interval: check-back of
            half messages (``transactionTimeOut`` 6000 ms, ``transactionCheckMax`` 15,
            ``transactionCheckInterval`` 60000 ms); reject_transaction_message:
            ``rejectTransactionMessage`` (half messages answered NO_PERMISSION).
        message_delay_level: ``messageDelayLevel``.
        rebalance_lock_max_live_time_ms: lock lease of ordered queues (60 s).
        slave_read_enable: ``slaveReadEnable``: pulls may be steered to a slave (suggestWhichBrokerId).
        fast_listen_port: ``fastListenPort``: also serve requests on this port (0 = off). Apache 4.9.8
            always opens this "fast"/VIP channel on ``listenPort - 2`` and its slaves fetch the
            master's topic table through it, so set it to ``listenPort - 2`` to serve Apache slaves.
        server_worker_limit: requests processed concurrently per connection.
        timer_wheel_enable / timer_max_delay_sec / timer_precision_ms: 5.x ``timerWheelEnable``
            (true), ``timerMaxDelaySec`` (3 days), ``timerPrecisionMs`` (1000).
        store_reply_message_enable: ``storeReplyMessageEnable``: also store replies in the reply topic.
        pop_polling_size: POP requests that may be parked at once (then POLLING_FULL).
        pop_ck_persist_delay_ms: how soon after a change the POP lease table is written to disk.
    """

    broker_cluster_name: str = "DefaultCluster"
    broker_name: str = "broker-a"
    broker_id: int = 0
    broker_ip1: str = "127.0.0.1"
    listen_port: int = 10911
    namesrv_addr: str = ""
    broker_role: BrokerRole = BrokerRole.ASYNC_MASTER
    auto_create_topic_enable: bool = True
    auto_create_subscription_group: bool = True
    default_topic_queue_nums: int = 8
    broker_permission: int = 6
    register_name_server_period_ms: int = 30000
    register_broker_timeout_ms: int = 6000
    long_polling_enable: bool = True
    short_polling_time_mills: int = 1000
    channel_expired_timeout_ms: int = 120000
    flush_consumer_offset_interval_ms: int = 5000
    cluster_topic_enable: bool = True
    broker_topic_enable: bool = True
    trace_topic_enable: bool = False
    msg_trace_topic_name: str = "RMQ_SYS_TRACE_TOPIC"
    enable_property_filter: bool = False
    acl_enable: bool = False
    acl_file: str = ""
    acl_watch_interval_ms: int = 5000
    rocketmq_home: str = ""
    metrics_port: int = -1
    trace_on: bool = True
    region_id: str = "DefaultRegion"
    transaction_time_out: int = 6000
    transaction_check_max: int = 15
    transaction_check_interval: int = 60000
    reject_transaction_message: bool = False
    message_delay_level: str = DEFAULT_DELAY_LEVELS
    rebalance_lock_max_live_time_ms: int = 60000
    slave_read_enable: bool = False
    fast_listen_port: int = 0
    max_frame_length: int = 16 * 1024 * 1024
    server_worker_limit: int = 4096
    # 5.x timer messages (broker_core.broker.timer), request-reply and POP (broker_core.broker.pop)
    timer_wheel_enable: bool = True
    timer_max_delay_sec: int = 259200
    timer_precision_ms: int = 1000
    store_reply_message_enable: bool = True
    pop_polling_size: int = 1024
    pop_ck_persist_delay_ms: int = 50
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def broker_addr(self) -> str:
        return f"{self.broker_ip1}:{self.listen_port}"

    @property
    def ha_server_addr(self) -> str:
        return f"{self.broker_ip1}:{self.listen_port + 1}"

    @property
    def namesrv_addrs(self) -> list[str]:
        return [a.strip() for a in self.namesrv_addr.split(";") if a.strip()]


# Apache key -> field name, where the key is not simply the camelCase of the field.
_KEY_ALIASES = {
    "brokerIP1": "broker_ip1",
    "registerNameServerPeriod": "register_name_server_period_ms",
    "registerBrokerTimeoutMills": "register_broker_timeout_ms",
    "channelExpiredTimeout": "channel_expired_timeout_ms",
    "flushConsumerOffsetInterval": "flush_consumer_offset_interval_ms",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _key_map(cls: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    out: dict[str, dataclasses.Field[Any]] = {}
    for f in dataclasses.fields(cls):
        if f.name != "extra":
            out[_camel(f.name)] = f
    for key, name in _KEY_ALIASES.items():
        out[key] = next(f for f in dataclasses.fields(cls) if f.name == name)
    return out


def convert(key: str, raw: str, default: Any) -> Any:
    """Convert a properties string to the type of ``default``; ConfigError names the key."""
    value = raw.strip()
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false"):
                raise ValueError("expected true or false")
            return value.lower() == "true"
        if isinstance(default, int):
            try:
                return int(value)
            except ValueError:
                raise ValueError("expected an integer") from None
        if isinstance(default, float):
            try:
                return float(value)
            except ValueError:
                raise ValueError("expected a number") from None
        if isinstance(default, enum.Enum):
            return parse_enum(type(default), value)
    except ValueError as exc:
        raise ConfigError(f"invalid value {raw!r} for {key}: {exc}") from exc
    return value


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java-properties ``key=value`` lines (``#``/``!`` comments, ``:`` also separates)."""
    props: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#!":
            continue
        for sep in ("=", ":"):
            if sep in stripped:
                key, value = stripped.split(sep, 1)
                props[key.strip()] = value.strip()
                break
        else:
            raise ConfigError(f"line {lineno}: expected key=value, got {stripped!r}")
    return props


def load_properties(path: str | Path) -> dict[str, str]:
    try:
        return parse_properties(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc


def broker_config_from_properties(props: dict[str, str]) -> tuple[BrokerConfig, dict[str, str]]:
    """Build a BrokerConfig from Apache keys; returns it and the keys it did not use."""
    keys = _key_map(BrokerConfig)
    defaults = BrokerConfig()
    kwargs: dict[str, Any] = {}
    rest: dict[str, str] = {}
    for key, raw in props.items():
        f = keys.get(key)
        if f is None:
            rest[key] = raw
            continue
        kwargs[f.name] = convert(key, raw, getattr(defaults, f.name))
    cfg = BrokerConfig(**kwargs)
    if not 0 <= cfg.listen_port <= 65535:
        raise ConfigError(f"invalid listenPort {cfg.listen_port}")
    if not cfg.broker_name or not cfg.broker_cluster_name:
        raise ConfigError("brokerName and brokerClusterName must not be empty")
    if cfg.broker_role is BrokerRole.SLAVE and cfg.broker_id == 0:
        raise ConfigError("a SLAVE broker needs brokerId > 0")
    if cfg.broker_role is not BrokerRole.SLAVE and cfg.broker_id != 0:
        cfg = dataclasses.replace(cfg, broker_id=0)  # Apache forces brokerId 0 on a master role
    return cfg, rest


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def broker_config_to_properties(cfg: BrokerConfig) -> dict[str, str]:
    """The Apache ``key -> value`` strings of ``cfg`` (GET_BROKER_CONFIG), unknown extras included."""
    out = {key: _format(getattr(cfg, f.name)) for key, f in _key_map(BrokerConfig).items()}
    out.update(cfg.extra)
    return dict(sorted(out.items()))


def update_broker_config(cfg: BrokerConfig, props: dict[str, str]) -> BrokerConfig:
    """``cfg`` with the known keys of ``props`` replaced (UPDATE_BROKER_CONFIG); others go to ``extra``.

    Raises:
        ConfigError: a value does not parse as its key's type.
    """
    keys = _key_map(BrokerConfig)
    changes: dict[str, Any] = {}
    extra = dict(cfg.extra)
    for key, raw in props.items():
        f = keys.get(key)
        if f is None:
            extra[key] = raw
        else:
            changes[f.name] = convert(key, raw, getattr(cfg, f.name))
    return dataclasses.replace(cfg, extra=extra, **changes)
