"""The listener worker wired from ``settings.ROCKETMQ`` (what ``rocketmq_listeners`` and
``rocketmq_dev`` run): :func:`rocketmq_integration.worker.run_worker` with the DI container's
runner, Django DB-connection hygiene and the app's signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rocketmq_integration.django.conf import configured_container
from rocketmq_integration.django.signals import SignalsMiddleware
from rocketmq_integration.listeners.builtin import DjangoDBCleanupMiddleware
from rocketmq_integration.listeners.registry import ListenerRegistry, default_registry
from rocketmq_integration.listeners.runner import ListenerRunner

__all__ = ["ListenerFilter", "build_runner"]


@dataclass(frozen=True)
class ListenerFilter:
    """Which registered listeners to run (empty sequences: no restriction)."""

    topics: Sequence[str] = ()
    exclude: Sequence[str] = ()

    def registry(self, source: ListenerRegistry) -> ListenerRegistry:
        """A registry with the listeners of ``source`` that pass the filter."""
        out = ListenerRegistry()
        for spec in source.all():
            if self.topics and spec.topic not in self.topics:
                continue
            if spec.name in self.exclude:
                continue
            out.register(spec)
        return out


def build_runner(
    listener_filter: ListenerFilter | None = None, *, namesrv_addr: str | None = None
) -> ListenerRunner:
    """A (not started) runner for the listeners selected by ``settings.ROCKETMQ`` and the filter.

    Middleware: the container's (metrics), then ``close_old_connections`` around every call and
    the ``message_received`` / ``message_consumed`` / ``message_failed`` signals.
    """
    runner: ListenerRunner = configured_container().listener_runner()
    runner.middlewares += [DjangoDBCleanupMiddleware(), SignalsMiddleware()]
    runner.registry = (listener_filter or ListenerFilter()).registry(default_registry)
    if namesrv_addr:
        runner.namesrv_addr = namesrv_addr
    return runner
