"""The listener registry: every ``@rocketmq_listener`` lands here; runners read it.

Registration also checks the rule that bites rocketmq-spring users most (apache/rocketmq-spring
#237, #409, #556): all members of a consumer group must subscribe identically. Two clustering
listeners with the same ``consumer_group`` but a different topic/selector/mode would silently
starve each other, so the second registration fails naming ``consumer_group``.

:meth:`ListenerRegistry.autodiscover` imports ``<package>.listeners`` for each package given (the
Django app layer passes installed apps), so decorators run without import-order surprises.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable

from rocketmq_integration.errors import ListenerConfigError, SubscriptionConflictError
from rocketmq_integration.listeners.decorators import ListenerSpec

__all__ = ["ListenerRegistry", "default_registry"]


def _subscription(spec: ListenerSpec) -> tuple[object, ...]:
    return (spec.topic, spec.selector_type, spec.selector_expression, spec.consume_mode, spec.message_model)


class ListenerRegistry:
    """Named listener specs (thread-safe)."""

    def __init__(self) -> None:
        self._specs: dict[str, ListenerSpec] = {}
        self._lock = threading.Lock()

    def register(self, spec: ListenerSpec) -> None:
        """Add ``spec``; re-registering the same target under its name (a module reload) replaces it.

        Raises:
            ListenerConfigError: another listener has the name, or shares the group with a
                different subscription.
        """
        with self._lock:
            old = self._specs.get(spec.name)
            if old is not None and getattr(old.target, "__qualname__", None) != getattr(
                spec.target, "__qualname__", None
            ):
                raise ListenerConfigError(
                    f"invalid listener attribute 'name': {spec.name!r} is already registered"
                )
            for other in self._specs.values():
                if other.name == spec.name or other.consumer_group != spec.consumer_group:
                    continue
                if _subscription(other) != _subscription(spec):
                    raise SubscriptionConflictError(
                        f"invalid listener attribute 'consumer_group': {spec.consumer_group!r} is used by "
                        f"{other.name} with a different subscription; one group = one subscription"
                    )
            self._specs[spec.name] = spec

    def unregister(self, name: str) -> None:
        """Remove a listener (no error when absent)."""
        with self._lock:
            self._specs.pop(name, None)

    def all(self) -> list[ListenerSpec]:
        """Every registered spec, in registration order."""
        with self._lock:
            return list(self._specs.values())

    def enabled(self) -> list[ListenerSpec]:
        """Specs with ``enabled=True``."""
        return [s for s in self.all() if s.enabled]

    def get(self, name: str) -> ListenerSpec:
        """The spec called ``name``; KeyError when unknown."""
        with self._lock:
            return self._specs[name]

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._specs.clear()

    def autodiscover(self, packages: Iterable[str], module: str = "listeners") -> list[str]:
        """Import ``<package>.<module>`` for every package that has one; returns what was imported."""
        imported = []
        for package in packages:
            name = f"{package}.{module}"
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name is not None and (exc.name == name or name.startswith(exc.name + ".")):
                    continue  # the package has no listeners module
                raise
            imported.append(name)
        return imported

    def __len__(self) -> int:
        return len(self._specs)


#: the registry ``@rocketmq_listener`` uses unless told otherwise
default_registry = ListenerRegistry()
