"""structlog configuration and context helpers for the client and framework layer.

Libraries never configure logging at import time; applications (or tests) call
:func:`configure_logging` once at the edge. Modules use ``log = get_logger(__name__)`` and bind
``topic``, ``queue_id``, ``group``, ``msg_id`` as context. Listener containers bind per-message
context with :func:`bound_context`, which uses contextvars so it follows the asyncio task.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

__all__ = ["bind_context", "bound_context", "clear_context", "configure_logging", "get_logger"]


def configure_logging(level: int | str = "INFO", *, json: bool = False) -> None:
    """Configure structlog (and stdlib logging) for console or JSON output.

    Args:
        level: minimum level name or number.
        json: render one JSON object per line instead of the console renderer.
    """
    lvl = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    logging.basicConfig(stream=sys.stderr, level=lvl, format="%(message)s")
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str, **initial: Any) -> Any:
    """A structlog logger named ``name`` with optional initial bound values."""
    return structlog.get_logger(name).bind(logger=name, **initial) if initial else structlog.get_logger(name)


def bind_context(**values: Any) -> None:
    """Bind values into the contextvars log context of the current task/thread."""
    structlog.contextvars.bind_contextvars(**values)


def clear_context() -> None:
    """Remove every contextvars-bound value."""
    structlog.contextvars.clear_contextvars()


@contextmanager
def bound_context(**values: Any) -> Iterator[None]:
    """Bind ``values`` for the duration of the ``with`` block, restoring the previous ones after.

    Token-based (bind + reset) rather than ``structlog.contextvars.bound_contextvars``, which
    snapshots the whole context first: this runs once per consumed message.
    """
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
