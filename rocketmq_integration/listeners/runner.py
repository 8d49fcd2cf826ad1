"""``ListenerRunner``: start every enabled listener of a registry on one shared loop thread.

This is what a worker process (the ``rocketmq_listeners`` management command, the pytest plugin)
runs; web processes never start consumers. ``start(names=...)`` filters by listener name and
``toggles`` switch listeners off per group/topic; ``stop()`` drains all containers (in parallel,
each within its own ``await_termination_when_shutdown``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence

from rocketmq_integration.client.config import ClientConfig, ConsumerConfig
from rocketmq_integration.client.sync import EventLoopThread
from rocketmq_integration.converters import MessageConverter
from rocketmq_integration.idempotency import IdempotencyStore
from rocketmq_integration.listeners.container import ListenerContainer
from rocketmq_integration.listeners.decorators import ListenerSpec
from rocketmq_integration.listeners.middleware import Middleware
from rocketmq_integration.listeners.registry import ListenerRegistry

__all__ = ["ListenerRunner"]


class ListenerRunner:
    """Builds and runs :class:`ListenerContainer` s (arguments as for the container)."""

    def __init__(
        self,
        registry: ListenerRegistry,
        *,
        namesrv_addr: str | None = None,
        client_config: ClientConfig | None = None,
        consumer_config: ConsumerConfig | None = None,
        converter: MessageConverter | str | None = None,
        middlewares: Sequence[Middleware] = (),
        idempotency_store: IdempotencyStore | None = None,
        toggles: Mapping[str, Mapping[str, bool]] | None = None,
    ) -> None:
        self.registry = registry
        self.toggles = {g: dict(t) for g, t in (toggles or {}).items()}
        self.namesrv_addr = namesrv_addr
        self.client_config = client_config
        self.consumer_config = consumer_config
        self.converter = converter
        self.middlewares = list(middlewares)
        self.idempotency_store = idempotency_store
        self.containers: dict[str, ListenerContainer] = {}
        self._thread: EventLoopThread | None = None

    def container_for(self, spec: ListenerSpec) -> ListenerContainer:
        """A (not started) container for ``spec`` on the runner's loop."""
        if self._thread is None or not self._thread.alive:
            self._thread = EventLoopThread("rocketmq-listeners")
        return ListenerContainer(
            spec, namesrv_addr=self.namesrv_addr, client_config=self.client_config,
            consumer_config=self.consumer_config, converter=self.converter, middlewares=self.middlewares,
            idempotency_store=self.idempotency_store, loop_thread=self._thread,
        )  # fmt: skip

    def selected(self, names: Iterable[str] | None = None) -> list[ListenerSpec]:
        """The specs :meth:`start` would run: enabled, not switched off by ``toggles``
        (``{group: {topic: False}}``, rocketmq-spring's ``rocketmq.consumer.listeners``), and in
        ``names`` when given."""
        wanted = set(names) if names is not None else None
        return [
            spec
            for spec in self.registry.enabled()
            if self.toggles.get(spec.consumer_group, {}).get(spec.topic, True)
            and (wanted is None or spec.name in wanted)
        ]

    def start(self, names: Iterable[str] | None = None) -> list[ListenerContainer]:
        """Start the :meth:`selected` listeners not running yet; returns the new containers."""
        started = []
        for spec in self.selected(names):
            if spec.name in self.containers:
                continue
            container = self.container_for(spec)
            container.start()
            self.containers[spec.name] = container
            started.append(container)
        return started

    def run_spec(self, spec: ListenerSpec) -> ListenerContainer:
        """Start one spec that need not be registered (tests, programmatic use)."""
        container = self.container_for(spec)
        container.start()
        self.containers[spec.name] = container
        return container

    def stop(self, timeout: float | None = None) -> None:
        """Stop every container (concurrently) and the shared loop."""
        containers = list(self.containers.values())
        self.containers.clear()
        threads = [threading.Thread(target=c.stop, args=(timeout,)) for c in containers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
