"""Operations requests: statistics, broker config and producer connections (storage spec 11, 12).

VIEW_BROKER_STATS_DATA (315), GET_BROKER_CONSUME_STATS (317), GET_BROKER_CONFIG (26),
UPDATE_BROKER_CONFIG (25), GET_PRODUCER_CONNECTION_LIST (204), and the statistics part of
GET_BROKER_RUNTIME_INFO (28, :func:`runtime_table`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from broker_core.broker.context import BrokerContext
from broker_core.broker.offsets import TOPIC_GROUP_SEPARATOR
from broker_core.broker.stats import GROUP_GET_NUMS, human_size, runtime_text
from broker_core.config.broker import (
    BrokerConfig,
    broker_config_to_properties,
    parse_properties,
    update_broker_config,
)
from broker_core.errors import ConfigError
from broker_core.remoting.body.consumer_admin import MQ, ConsumeStats, OffsetWrapper
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import LanguageCode, RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.headers.base import CommandHeader, HeaderError

log = structlog.get_logger(__name__)

#: keys UPDATE_BROKER_CONFIG refuses (``configBlackList`` default plus the two always refused)
CONFIG_BLACK_LIST = frozenset({"brokerConfigPath", "rocketmqHome", "configBlackList"})


@dataclass(slots=True)
class ViewBrokerStatsDataRequestHeader(CommandHeader):
    stats_name: str
    stats_key: str


@dataclass(slots=True)
class GetProducerConnectionListRequestHeader(CommandHeader):
    producer_group: str


@dataclass(slots=True)
class GetConsumeStatsInBrokerHeader(CommandHeader):
    is_order: bool = False


def _language_name(code: int) -> str:
    try:
        return LanguageCode(code).name
    except ValueError:
        return str(code)


def consume_stats_of(ctx: BrokerContext, group: str, topic: str) -> ConsumeStats | None:
    """Per-queue offsets and consume TPS of ``group`` on ``topic`` (None when the topic is unknown)."""
    tc = ctx.topics.get(topic)
    if tc is None:
        return None
    store = ctx.store
    table: dict[MQ, OffsetWrapper] = {}
    for qid in range(tc.write_queue_nums):
        broker_offset = max(store.get_max_offset_in_queue(topic, qid), 0)
        consumer_offset = max(ctx.offsets.query(group, topic, qid), 0)
        last = 0
        if consumer_offset > 0:
            last = max(store.get_message_store_timestamp(topic, qid, consumer_offset - 1), 0)
        table[(topic, ctx.config.broker_name, qid)] = OffsetWrapper(broker_offset, consumer_offset, last)
    return ConsumeStats(table, ctx.stats.minute_tps(GROUP_GET_NUMS, f"{topic}@{group}"))


def disk_used_ratio(path: str) -> tuple[float, int, int]:
    """(used ratio, total bytes, usable bytes) as ``UtilAll.getDiskPartitionSpaceUsedPercent``:
    used = total - free, ratio = used / (used + usable) rounded up to whole percent."""
    try:
        st = os.statvfs(path)
    except OSError:
        return 0.0, 0, 0
    total, free, usable = st.f_blocks * st.f_frsize, st.f_bfree * st.f_frsize, st.f_bavail * st.f_frsize
    used = total - free
    entire = used + usable
    if total <= 0 or entire <= 0:
        return 0.0, total, usable
    percent = used * 100 // entire + (1 if used * 100 % entire else 0)
    return percent / 100.0, total, usable


def runtime_table(ctx: BrokerContext) -> dict[str, str]:
    """The statistics keys of GET_BROKER_RUNTIME_INFO (storage spec 11.2)."""
    st = ctx.stats.store
    store = ctx.store
    root = str(store.config.store_path_root_dir)
    ratio, total, free = disk_used_ratio(root)
    earliest = -1
    if store.max_phy_offset > store.min_phy_offset:
        first = store.look_message_by_offset(store.min_phy_offset)
        earliest = first.store_timestamp if first is not None else -1
    avg = st.put_size / st.put_times if st.put_times else 0.0
    table = {
        "bootTimestamp": str(st.boot_timestamp),
        "runtime": runtime_text(st.boot_timestamp),
        "putMessageEntireTimeMax": str(int(st.put_max_ms)),
        "putMessageTimesTotal": str(st.put_times),
        "putMessageFailedTimes": str(st.put_failed),
        "putMessageSizeTotal": str(st.put_size),
        "putMessageDistributeTime": st.distribute_text(),
        "putMessageAverageSize": f"{avg:.1f}",
        "dispatchMaxBuffer": "0",
        "getMessageEntireTimeMax": "0",
        "putTps": st.tps(1),
        "getFoundTps": st.tps(2),
        "getMissTps": st.tps(3),
        "getTotalTps": st.tps(0),
        "getTransferedTps": st.tps(4),
        "putLatency99": f"{st.latency_percentile(0.99):.2f}",
        "putLatency999": f"{st.latency_percentile(0.999):.2f}",
        "commitLogDiskRatio": repr(ratio),
        f"commitLogDiskRatio_{root}": repr(ratio),
        "consumeQueueDiskRatio": repr(ratio),
        "msgPutTotalTodayNow": str(st.put_times),
        "msgGetTotalTodayNow": str(st.get_transferred),
        "sendThreadPoolQueueSize": "0",
        "sendThreadPoolQueueCapacity": "10000",
        "pullThreadPoolQueueSize": "0",
        "pullThreadPoolQueueCapacity": "100000",
        "queryThreadPoolQueueSize": "0",
        "queryThreadPoolQueueCapacity": "20000",
        "EndTransactionQueueSize": "0",
        "EndTransactionThreadPoolQueueCapacity": "100000",
        "pageCacheLockTimeMills": "0",
        "sendThreadPoolQueueHeadWaitTimeMills": "0",
        "pullThreadPoolQueueHeadWaitTimeMills": "0",
        "queryThreadPoolQueueHeadWaitTimeMills": "0",
        "earliestMessageTimeStamp": str(earliest),
        "startAcceptSendRequestTimeStamp": "0",
        "remainTransientStoreBufferNumbs": str(2**31 - 1),
        "remainHowManyDataToFlush": human_size(0),
        "commitLogDirCapacity": f"Total : {human_size(total)}, Free : {human_size(free)}.",
    }
    table.update({k: str(v) for k, v in st.day_marks.items()})
    return table


class OpsProcessor:
    """Statistics and broker-config codes; ``on_config_updated`` lets the app adopt a new config."""

    def __init__(
        self, ctx: BrokerContext, on_config_updated: Callable[[BrokerConfig], None] | None = None
    ) -> None:
        self.ctx = ctx
        self.on_config_updated = on_config_updated
        self._config_version = 0
        self._config_changed_ms = int(time.time() * 1000)

    def register(self, d: Dispatcher) -> None:
        d.register(RequestCode.VIEW_BROKER_STATS_DATA, self.view_stats)
        d.register(RequestCode.GET_BROKER_CONSUME_STATS, self.broker_consume_stats)
        d.register(RequestCode.GET_BROKER_CONFIG, self.get_config)
        d.register(RequestCode.UPDATE_BROKER_CONFIG, self.update_config)
        d.register(RequestCode.GET_PRODUCER_CONNECTION_LIST, self.producer_connections)

    def view_stats(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = ViewBrokerStatsDataRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        windows = self.ctx.stats.view(h.stats_name, h.stats_key)
        if windows is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"The stats <{h.stats_name}> <{h.stats_key}> not exist"
            )
        body = json.dumps({k: v.to_json() for k, v in windows.items()}, separators=(",", ":"))
        return request.make_response(body=body.encode())

    def broker_consume_stats(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        ctx = self.ctx
        h = GetConsumeStatsInBrokerHeader.from_ext_fields(request.ext_fields)
        parts: list[str] = []
        total_diff = 0
        for group in sorted(ctx.groups.table):
            suffix = TOPIC_GROUP_SEPARATOR + group
            topics = sorted(k[: -len(suffix)] for k in ctx.offsets.table if k.endswith(suffix))
            online = ctx.consumers.groups.get(group)
            stats: list[str] = []
            for topic in topics:
                tc = ctx.topics.get(topic)
                if tc is None or (h.is_order and not tc.order):
                    continue
                if online is not None and online.subscriptions and topic not in online.subscriptions:
                    continue
                cs = consume_stats_of(ctx, group, topic)
                if cs is None:
                    continue
                total_diff += cs.diff_total
                stats.append(cs.encode().decode())
            parts.append("{" + json.dumps(group) + ":[" + ",".join(stats) + "]}")
        body = (
            '{"brokerAddr":' + json.dumps(ctx.config.broker_addr)
            + ',"consumeStatsList":[' + ",".join(parts) + '],"totalDiff":' + str(total_diff) + "}"
        )  # fmt: skip
        return request.make_response(body=body.encode())

    def get_config(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        props = broker_config_to_properties(self.ctx.config)
        store_cfg = self.ctx.store.config
        for key, name in type(store_cfg).apache_keys().items():
            value = getattr(store_cfg, name)
            props.setdefault(key, ("true" if value else "false") if isinstance(value, bool) else str(value))
        text = "".join(f"{k}={v}\n" for k, v in sorted(props.items()))
        version = json.dumps({"counter": self._config_version, "timestamp": self._config_changed_ms})
        return request.make_response(ext_fields={"version": version}, body=text.encode())

    def update_config(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        log.info("updateBrokerConfig called", peer=channel.remote_addr)
        if not request.body:
            return request.make_response()
        try:
            props = parse_properties(request.body.decode("utf-8"))
        except (ConfigError, UnicodeDecodeError):
            return request.make_response(ResponseCode.SYSTEM_ERROR, "string2Properties error")
        if CONFIG_BLACK_LIST & props.keys():
            return request.make_response(ResponseCode.NO_PERMISSION, "Can not update config in black list.")
        try:
            new = update_broker_config(self.ctx.config, props)
        except ConfigError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        self.ctx.config = new
        self._config_version += 1
        self._config_changed_ms = int(time.time() * 1000)
        if self.on_config_updated is not None:
            self.on_config_updated(new)
        if "brokerPermission" in props:
            self.ctx.on_topics_changed()
        log.info("broker config updated", keys=sorted(props))
        return request.make_response()

    def producer_connections(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = GetProducerConnectionListRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        members = self.ctx.producers.groups.get(h.producer_group)
        if members is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"the producer group[{h.producer_group}] not exist"
            )
        conns = [
            {
                "clientAddr": ch.remote_addr,
                "clientId": m.client_id,
                "language": _language_name(m.language),
                "version": m.version,
            }
            for ch, m in members.items()
        ]
        body = json.dumps({"connectionSet": conns}, separators=(",", ":"))
        return request.make_response(body=body.encode())
