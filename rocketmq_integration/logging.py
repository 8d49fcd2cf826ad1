"""Logging of the client and framework layer: structlog over the standard ``logging`` module.

The package never configures logging for its user. Its modules use ``log = get_logger(__name__)``
(a structlog logger whose records go to ``logging.getLogger(__name__)``) and bind ``topic``,
``queue_id``, ``group``, ``msg_id`` as context; listener containers bind per-message context with
:func:`bound_context` (contextvars, so it follows the asyncio task).

Unconfigured, a program prints nothing on stdout and only WARNING and above on stderr (Python's
last-resort handler). To see more, configure ``logging`` as usual (logger names
``rocketmq_integration`` and ``broker_core``) or call :func:`configure_logging` once at start-up::

    from rocketmq_integration.logging import configure_logging

    configure_logging("info")               # console lines on stderr, ISO 8601 UTC timestamps
    configure_logging("info", json=True)    # one JSON object per line
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import structlog

from broker_core.logsetup import StructuredFormatter, get_logger
from broker_core.logsetup import configure_logging as _configure

__all__ = [
    "StructuredFormatter",
    "bind_context",
    "bound_context",
    "clear_context",
    "configure_logging",
    "get_logger",
]


def configure_logging(
    level: int | str = "INFO", *, json: bool = False, stream: IO[str] | None = None
) -> None:
    """Send log records at ``level`` and above to ``stream`` (default stderr).

    Installs one handler with :class:`StructuredFormatter` on the root logger (calling it again
    replaces that handler; handlers of the application are kept) and sets the root level.

    Args:
        level: minimum level name (``"debug"``, ``"info"``, ``"warning"``, ``"error"``) or number.
        json: one JSON object per line (``timestamp``, ``level``, ``logger``, ``event`` and the
            bound keys) instead of ``timestamp [level] logger: event key=value`` lines.
        stream: where to write (default ``sys.stderr``).
    """
    _configure(level, json=json, stream=stream)


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
