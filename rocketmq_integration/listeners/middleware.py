"""Middleware hooks around every listener call (logging context, metrics, DB cleanup, ...).

A middleware is an object with ``before(ctx)`` and ``after(ctx, error)``; both run in the thread
(sync listener) or task (async listener) that runs the handler, so thread-local resources such as
Django DB connections can be managed. ``error`` is ``None`` on success, otherwise the exception
(including the explicit outcomes). Hooks must not raise; if one does, it is logged and ignored,
never turning a processed message into a retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rocketmq_integration.listeners.decorators import ListenerSpec, MessageContext
from rocketmq_integration.logging import get_logger

__all__ = ["Middleware", "MiddlewareChain"]

log = get_logger(__name__)


class Middleware(Protocol):
    """Hooks around a listener call."""

    def before(self, spec: ListenerSpec, contexts: Sequence[MessageContext]) -> None:
        """Called before the handler with the message contexts of the call (one unless batch)."""

    def after(
        self, spec: ListenerSpec, contexts: Sequence[MessageContext], error: BaseException | None
    ) -> None:
        """Called after the handler; ``error`` is what it raised (or ``None``)."""


class MiddlewareChain:
    """Runs ``before`` in order and ``after`` in reverse order, isolating failures."""

    def __init__(self, middlewares: Sequence[Middleware] = ()) -> None:
        self.middlewares = list(middlewares)

    def before(self, spec: ListenerSpec, contexts: Sequence[MessageContext]) -> None:
        """Run every ``before`` hook."""
        for m in self.middlewares:
            try:
                m.before(spec, contexts)
            except Exception:
                log.exception("middleware before() failed", middleware=type(m).__name__)

    def after(
        self, spec: ListenerSpec, contexts: Sequence[MessageContext], error: BaseException | None
    ) -> None:
        """Run every ``after`` hook, innermost first."""
        for m in reversed(self.middlewares):
            try:
                m.after(spec, contexts, error)
            except Exception:
                log.exception("middleware after() failed", middleware=type(m).__name__)
