"""Declarative listeners: ``@rocketmq_listener``, outcomes, registry, containers, middleware."""

from __future__ import annotations

from rocketmq_integration.listeners.builtin import (
    DjangoDBCleanupMiddleware,
    ListenerMetrics,
    MetricsMiddleware,
)
from rocketmq_integration.listeners.container import ContainerStats, ListenerContainer
from rocketmq_integration.listeners.decorators import (
    ConsumeFrom,
    ConsumeMode,
    ListenerSpec,
    MessageContext,
    MessageModel,
    SelectorType,
    build_spec,
    rocketmq_listener,
    rocketmq_tag_handler,
)
from rocketmq_integration.listeners.middleware import Middleware, MiddlewareChain
from rocketmq_integration.listeners.outcomes import (
    DiscardMessage,
    ReconsumeLater,
    SendToDeadLetter,
    SuspendQueue,
    delay_to_level,
)
from rocketmq_integration.listeners.registry import ListenerRegistry, default_registry
from rocketmq_integration.listeners.runner import ListenerRunner

__all__ = [
    "ConsumeFrom",
    "ConsumeMode",
    "ContainerStats",
    "DiscardMessage",
    "DjangoDBCleanupMiddleware",
    "ListenerContainer",
    "ListenerMetrics",
    "ListenerRegistry",
    "ListenerRunner",
    "ListenerSpec",
    "MessageContext",
    "MessageModel",
    "MetricsMiddleware",
    "Middleware",
    "MiddlewareChain",
    "ReconsumeLater",
    "SelectorType",
    "SendToDeadLetter",
    "SuspendQueue",
    "build_spec",
    "default_registry",
    "delay_to_level",
    "rocketmq_listener",
    "rocketmq_tag_handler",
]
