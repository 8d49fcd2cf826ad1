"""Built-in middleware: metrics counters and Django DB connection hygiene.

Per-message structlog context (``topic``, ``group``, ``msg_id``, ``queue_id``) is bound by the
container itself around every call, so it is not a middleware one could forget.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rocketmq_integration.listeners.decorators import ListenerSpec, MessageContext
from rocketmq_integration.listeners.outcomes import DiscardMessage

__all__ = ["DjangoDBCleanupMiddleware", "ListenerMetrics", "MetricsMiddleware"]


@dataclass(frozen=True, slots=True)
class ListenerMetrics:
    """Counters of one listener."""

    calls: int
    messages: int
    succeeded: int
    failed: int
    discarded: int
    total_seconds: float


class MetricsMiddleware:
    """Counts calls/messages/outcomes and handler time per listener name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0.0])
        self._started = threading.local()

    def before(self, spec: ListenerSpec, contexts: Sequence[MessageContext]) -> None:
        """Remember the start time (per thread/task)."""
        self._started.t = time.perf_counter()

    def after(
        self, spec: ListenerSpec, contexts: Sequence[MessageContext], error: BaseException | None
    ) -> None:
        """Update the counters."""
        elapsed = time.perf_counter() - getattr(self._started, "t", time.perf_counter())
        with self._lock:
            c = self._counts[spec.name]
            c[0] += 1
            c[1] += len(contexts)
            if error is None:
                c[2] += len(contexts)
            elif isinstance(error, DiscardMessage):
                c[4] += len(contexts)
            else:
                c[3] += len(contexts)
            c[5] += elapsed

    def snapshot(self, name: str) -> ListenerMetrics:
        """Counters of listener ``name`` (zeros when it never ran)."""
        with self._lock:
            c = list(self._counts.get(name, [0, 0, 0, 0, 0, 0.0]))
        return ListenerMetrics(int(c[0]), int(c[1]), int(c[2]), int(c[3]), int(c[4]), float(c[5]))


class DjangoDBCleanupMiddleware:
    """``django.db.close_old_connections()`` before and after each call, like Django does per request.

    Long-running consumer threads otherwise keep connections past ``CONN_MAX_AGE`` or after the
    database dropped them. Django is imported lazily, so this module is importable without it;
    without configured settings the hook does nothing.
    """

    def _close(self) -> None:
        try:
            conf = importlib.import_module("django.conf")
            db = importlib.import_module("django.db")
        except ImportError:
            return
        if conf.settings.configured:
            db.close_old_connections()

    def before(self, spec: ListenerSpec, contexts: Sequence[MessageContext]) -> None:
        """Drop stale connections before the handler uses the DB."""
        self._close()

    def after(
        self, spec: ListenerSpec, contexts: Sequence[MessageContext], error: BaseException | None
    ) -> None:
        """Drop connections the handler left unusable or past their age."""
        self._close()
