"""Prometheus ``/metrics`` for the broker, with apache/rocketmq-exporter's metric names (storage spec 11.4).

Nothing is counted twice: :class:`BrokerMetricsCollector` reads the broker's own statistics
(:mod:`broker_core.broker.stats`, the store, the offset table) when Prometheus scrapes, so the
request path pays nothing for the endpoint. :class:`MetricsServer` answers ``GET /metrics`` on the
broker's event loop (a few lines of HTTP/1.0 over ``asyncio.start_server``), so the collector reads
loop-confined state without locks. Enabled by ``metricsPort`` (ours; -1 = off, 0 = any free port).

=====================================  ============================================  =========================
metric                                 labels                                        source
=====================================  ============================================  =========================
rocketmq_producer_tps                  cluster, broker, topic                        TOPIC_PUT_NUMS minute TPS
rocketmq_producer_message_size         cluster, broker, topic                        TOPIC_PUT_SIZE minute TPS
rocketmq_producer_offset               cluster, broker, topic                        Σ queue max offsets
rocketmq_consumer_tps                  cluster, broker, topic, group                 GROUP_GET_NUMS minute TPS
rocketmq_consumer_message_size         cluster, broker, topic, group                 GROUP_GET_SIZE minute TPS
rocketmq_consumer_offset               cluster, broker, topic, group                 Σ committed offsets
rocketmq_group_diff                    group, topic, countOfOnlineConsumers, msgModel  Σ (max − committed)
rocketmq_group_retrydiff / _dlqdiff    same                                          for %RETRY% / %DLQ% topics
rocketmq_send_back_nums                cluster, broker, topic, group                 SNDBCK_PUT_NUMS minute sum
rocketmq_broker_tps / rocketmq_broker_qps  cluster, brokerIP, broker                 BROKER_PUT/GET_NUMS TPS
rocketmq_brokeruntime_*                cluster, brokerIP, broker                     runtime-info figures
=====================================  ============================================  =========================
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from broker_core.broker.context import BrokerContext
from broker_core.broker.offsets import TOPIC_GROUP_SEPARATOR
from broker_core.broker.stats import (
    BROKER_GET_NUMS,
    BROKER_PUT_NUMS,
    GROUP_GET_NUMS,
    GROUP_GET_SIZE,
    SNDBCK_PUT_NUMS,
    TOPIC_PUT_NUMS,
    TOPIC_PUT_SIZE,
)

log = structlog.get_logger(__name__)

RETRY_PREFIX = "%RETRY%"
DLQ_PREFIX = "%DLQ%"


class BrokerMetricsCollector(Collector):
    """Builds every metric family from the broker's state at scrape time."""

    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ctx = self.ctx
        cfg = ctx.config
        cluster, broker, ip = cfg.broker_cluster_name, cfg.broker_name, cfg.broker_ip1
        stats = ctx.stats
        store = ctx.store

        def family(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels)

        p_tps = family(
            "rocketmq_producer_tps", "messages put per second (last minute)", ["cluster", "broker", "topic"]
        )
        p_size = family(
            "rocketmq_producer_message_size",
            "bytes put per second (last minute)",
            ["cluster", "broker", "topic"],
        )
        for topic in list(stats.sets[TOPIC_PUT_NUMS]):
            p_tps.add_metric([cluster, broker, topic], stats.minute_tps(TOPIC_PUT_NUMS, topic))
            p_size.add_metric([cluster, broker, topic], stats.minute_tps(TOPIC_PUT_SIZE, topic))
        yield p_tps
        yield p_size

        p_off = family(
            "rocketmq_producer_offset", "sum of the topic's queue max offsets", ["cluster", "broker", "topic"]
        )
        for name, tc in list(ctx.topics.table.items()):
            total = sum(max(store.get_max_offset_in_queue(name, q), 0) for q in range(tc.write_queue_nums))
            p_off.add_metric([cluster, broker, name], total)
        yield p_off

        c_tps = family(
            "rocketmq_consumer_tps",
            "messages pulled per second (last minute)",
            ["cluster", "broker", "topic", "group"],
        )
        c_size = family(
            "rocketmq_consumer_message_size",
            "bytes pulled per second (last minute)",
            ["cluster", "broker", "topic", "group"],
        )
        for key in list(stats.sets[GROUP_GET_NUMS]):
            topic, _, group = key.partition("@")
            c_tps.add_metric([cluster, broker, topic, group], stats.minute_tps(GROUP_GET_NUMS, key))
            c_size.add_metric([cluster, broker, topic, group], stats.minute_tps(GROUP_GET_SIZE, key))
        yield c_tps
        yield c_size

        back = family(
            "rocketmq_send_back_nums",
            "messages sent back for retry (last minute)",
            ["cluster", "broker", "topic", "group"],
        )
        for key, item in list(stats.sets[SNDBCK_PUT_NUMS].items()):
            topic, _, group = key.partition("@")
            back.add_metric(
                [cluster, broker, topic, group], item.value - (item.minute[0][1] if item.minute else 0)
            )
        yield back

        c_off = family(
            "rocketmq_consumer_offset",
            "sum of the group's committed offsets",
            ["cluster", "broker", "topic", "group"],
        )
        labels = ["group", "topic", "countOfOnlineConsumers", "msgModel"]
        diff = family("rocketmq_group_diff", "consumer lag: sum of (max offset - committed offset)", labels)
        retry = family("rocketmq_group_retrydiff", "lag on the group's retry topic", labels)
        dlq = family("rocketmq_group_dlqdiff", "lag on the group's dead-letter topic", labels)
        for key, queues in list(ctx.offsets.table.items()):
            topic, _, group = key.partition(TOPIC_GROUP_SEPARATOR)
            committed = sum(max(o, 0) for o in queues.values())
            topic_cfg = ctx.topics.get(topic)
            qids = range(topic_cfg.read_queue_nums) if topic_cfg is not None else queues.keys()
            lag = sum(
                max(max(store.get_max_offset_in_queue(topic, q), 0) - max(queues.get(q, -1), 0), 0)
                for q in qids
            )
            c_off.add_metric([cluster, broker, topic, group], committed)
            online = ctx.consumers.groups.get(group)
            count = str(len(online.channels)) if online is not None else "0"
            model = online.message_model if online is not None else "CLUSTERING"
            target = (
                retry if topic.startswith(RETRY_PREFIX) else dlq if topic.startswith(DLQ_PREFIX) else diff
            )
            target.add_metric([group, topic, count, model], lag)
        yield c_off
        yield diff
        yield retry
        yield dlq

        b = ["cluster", "brokerIP", "broker"]
        tps = family("rocketmq_broker_tps", "messages put per second on this broker (last minute)", b)
        tps.add_metric([cluster, ip, broker], stats.minute_tps(BROKER_PUT_NUMS, cluster))
        yield tps
        qps = family("rocketmq_broker_qps", "messages pulled per second on this broker (last minute)", b)
        qps.add_metric([cluster, ip, broker], stats.minute_tps(BROKER_GET_NUMS, cluster))
        yield qps

        st = stats.store
        runtime = {
            "msg_put_total_today_now": st.put_times,
            "msg_gettotal_today_now": st.get_transferred,
            "putmessage_times_total": st.put_times,
            "put_message_size_total": st.put_size,
            "putmessage_entire_time_max": st.put_max_ms,
            "commitlog_maxoffset": store.max_phy_offset,
            "commitlog_minoffset": store.min_phy_offset,
            "dispatch_behind_bytes": store.dispatch_behind_bytes(),
            "put_latency_99": st.latency_percentile(0.99),
        }
        for name, value in runtime.items():
            g = family(f"rocketmq_brokeruntime_{name}", f"runtime info {name}", b)
            g.add_metric([cluster, ip, broker], float(value))
            yield g


class MetricsServer:
    """``GET /metrics`` (text exposition format) on the event loop; anything else is 404."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics endpoint listening", host=self.host, port=self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            parts = head.split(b"\r\n", 1)[0].split()
            path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b""
            if parts[:1] == [b"GET"] and path in (b"/metrics", b"/"):
                body = generate_latest(self.registry)
                status, ctype = b"200 OK", b"text/plain; version=0.0.4; charset=utf-8"
            else:
                body, status, ctype = b"not found\n", b"404 Not Found", b"text/plain"
            writer.write(
                b"HTTP/1.0 " + status + b"\r\nContent-Type: " + ctype
                + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
            )  # fmt: skip
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def broker_registry(ctx: BrokerContext) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BrokerMetricsCollector(ctx))
    return registry
