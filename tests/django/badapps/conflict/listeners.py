"""Two listeners, one group, two topics: the second registration fails."""

from __future__ import annotations

from rocketmq_integration.listeners import rocketmq_listener


@rocketmq_listener(topic="ConflictA", consumer_group="ConflictGroup", name="conflict.a")
def first(payload: object) -> None:
    """Subscribes ConflictA."""


@rocketmq_listener(topic="ConflictB", consumer_group="ConflictGroup", name="conflict.b")
def second(payload: object) -> None:
    """Subscribes ConflictB in the same group."""
