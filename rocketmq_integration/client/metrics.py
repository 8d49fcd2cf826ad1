"""Prometheus metrics of a consuming process (listener / worker), rocketmq-exporter's client names.

Off until :func:`start_metrics_server` (or :func:`enable_consume_metrics`) is called: then every
push consumer started afterwards in this process records each listener call (messages OK or
failed, call time) into one :class:`ConsumeRecorder`, and ``GET /metrics`` (prometheus-client's
HTTP server, a daemon thread) exposes, per ``group`` / ``topic`` / ``clientId``:

=========================================  ===================================================
rocketmq_client_consume_ok_msg_tps         messages consumed OK per second (last minute)
rocketmq_client_consume_fail_msg_tps       messages that failed per second (last minute)
rocketmq_client_consume_fail_msg_count     messages that failed in the last minute
rocketmq_client_consume_rt                 average listener call time, ms (last minute)
rocketmq_client_consume_ok_msg_total       messages consumed OK since start (counter)
rocketmq_client_consume_fail_msg_total     messages failed since start (counter)
=========================================  ===================================================

The recorder keeps one-second buckets for 60 s under a lock (listener calls run on the event loop,
scrapes on the HTTP thread).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["ConsumeRecorder", "enable_consume_metrics", "recorder", "start_metrics_server"]

WINDOW = 60


class _Series:
    __slots__ = ("buckets", "fail_total", "first", "ok_total")

    def __init__(self, now: float) -> None:
        self.first = now
        #: (second, ok, failed, rt_sum_ms, calls)
        self.buckets: deque[list[float]] = deque()
        self.ok_total = 0
        self.fail_total = 0


class ConsumeRecorder:
    """Listener-call outcomes per (group, topic, client id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str, str], _Series] = {}

    def record(self, group: str, topic: str, client_id: str, ok: int, failed: int, rt_ms: float) -> None:
        now = time.time()
        second = int(now)
        with self._lock:
            s = self._series.get((group, topic, client_id))
            if s is None:
                s = self._series[(group, topic, client_id)] = _Series(now)
            if not s.buckets or s.buckets[-1][0] != second:
                s.buckets.append([second, 0, 0, 0.0, 0])
                while s.buckets and s.buckets[0][0] <= second - WINDOW:
                    s.buckets.popleft()
            b = s.buckets[-1]
            b[1] += ok
            b[2] += failed
            b[3] += rt_ms
            b[4] += 1
            s.ok_total += ok
            s.fail_total += failed

    def snapshot(self) -> dict[tuple[str, str, str], dict[str, float]]:
        now = time.time()
        out = {}
        with self._lock:
            for key, s in self._series.items():
                live = [b for b in s.buckets if b[0] > now - WINDOW]
                span = max(min(float(WINDOW), now - s.first), 1.0)
                ok = sum(b[1] for b in live)
                failed = sum(b[2] for b in live)
                calls = sum(b[4] for b in live)
                out[key] = {
                    "ok_tps": ok / span,
                    "fail_tps": failed / span,
                    "fail_count": float(failed),
                    "rt": (sum(b[3] for b in live) / calls) if calls else 0.0,
                    "ok_total": float(s.ok_total),
                    "fail_total": float(s.fail_total),
                }
        return out


class _Collector(Collector):
    def __init__(self, rec: ConsumeRecorder) -> None:
        self.rec = rec

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        labels = ["group", "topic", "clientId"]
        gauges = {
            "ok_tps": GaugeMetricFamily(
                "rocketmq_client_consume_ok_msg_tps", "messages consumed OK per second", labels=labels
            ),
            "fail_tps": GaugeMetricFamily(
                "rocketmq_client_consume_fail_msg_tps", "messages failed per second", labels=labels
            ),
            "fail_count": GaugeMetricFamily(
                "rocketmq_client_consume_fail_msg_count", "messages failed in the last minute", labels=labels
            ),
            "rt": GaugeMetricFamily(
                "rocketmq_client_consume_rt", "average listener call time (ms)", labels=labels
            ),
        }
        ok_total = CounterMetricFamily(
            "rocketmq_client_consume_ok_msg", "messages consumed OK", labels=labels
        )
        fail_total = CounterMetricFamily("rocketmq_client_consume_fail_msg", "messages failed", labels=labels)
        for key, fig in self.rec.snapshot().items():
            for name, fam in gauges.items():
                fam.add_metric(list(key), fig[name])
            ok_total.add_metric(list(key), fig["ok_total"])
            fail_total.add_metric(list(key), fig["fail_total"])
        yield from gauges.values()
        yield ok_total
        yield fail_total


_recorder: ConsumeRecorder | None = None
_registry: CollectorRegistry | None = None


def recorder() -> ConsumeRecorder | None:
    """The process's recorder, or None while metrics are off."""
    return _recorder


def enable_consume_metrics() -> CollectorRegistry:
    """Turn recording on (idempotent); returns the registry holding the client metrics."""
    global _recorder, _registry
    if _recorder is None or _registry is None:
        _recorder = ConsumeRecorder()
        _registry = CollectorRegistry(auto_describe=False)
        _registry.register(_Collector(_recorder))
    return _registry


def start_metrics_server(port: int = 0, addr: str = "127.0.0.1") -> int:
    """Serve ``/metrics`` on ``addr:port`` (0 = a free port) from a daemon thread; returns the port."""
    registry = enable_consume_metrics()
    server, _thread = start_http_server(port, addr, registry)
    return int(server.server_port)
