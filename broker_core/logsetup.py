"""Logging of both packages: structlog loggers that write through the standard ``logging`` module.

A library does not configure logging for its user. Every module logs through
``log = get_logger(__name__)``: a structlog bound logger (``log.info("event", key=value)``,
``log.bind(...)``, contextvars) whose records go to the stdlib logger of the same name. So:

* with no configuration, Python's last-resort handler prints WARNING and above to **stderr**
  (``event key=value ...``) and nothing else; stdout is never written;
* an application configures the ``logging`` module as usual (levels per logger name:
  ``broker_core``, ``rocketmq_integration``), or calls :func:`configure_logging` for ready-made
  console or JSON lines.

Records carry the structured event as ``record.structlog`` (a dict), which
:class:`StructuredFormatter` renders; other formatters see ``record.getMessage()``, the
``event key=value`` text. Timestamps are ISO 8601 in UTC (``2026-12-03T07:08:06.123Z``) in the
servers and the clients alike. The server processes (``python -m broker_core``) call
:func:`configure_logging` at start-up; their stdout stays free for the one machine-readable
"listening" line.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import MutableMapping
from typing import IO, Any

import orjson
import structlog

__all__ = ["StructuredFormatter", "configure_logging", "get_logger", "iso_utc"]

EVENT_ATTR = "structlog"


def iso_utc(epoch_seconds: float) -> str:
    """``2026-12-03T07:08:06.123Z`` for a ``time.time()`` value."""
    stamp = dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _kv(event_dict: MutableMapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in event_dict.items())


def _to_stdlib(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Last processor: hand the event to ``logging`` as text plus the structured dict."""
    exc_info = event_dict.pop("exc_info", None)
    event_dict.pop("stack_info", None)
    event = str(event_dict.pop("event", ""))
    text = f"{event} {_kv(event_dict)}" if event_dict else event
    event_dict["event"] = event
    # stacklevel: the record's file/line/function are the caller's, not structlog's (frames:
    # _BoundLogger.<level> -> stdlib BoundLogger.<level> -> two _proxy_to_logger -> logging)
    kwargs: dict[str, Any] = {"extra": {EVENT_ATTR: dict(event_dict)}, "stacklevel": 5}
    if exc_info:
        kwargs["exc_info"] = exc_info
    return (text,), kwargs


_PROCESSORS: list[Any] = [structlog.contextvars.merge_contextvars, _to_stdlib]


class _BoundLogger(structlog.stdlib.BoundLogger):
    """Checks the stdlib level before building the event (disabled debug calls cost one lookup)."""

    def debug(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if self._logger.isEnabledFor(logging.DEBUG):
            return super().debug(event, *args, **kw)
        return None

    def info(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if self._logger.isEnabledFor(logging.INFO):
            return super().info(event, *args, **kw)
        return None

    def warning(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if self._logger.isEnabledFor(logging.WARNING):
            return super().warning(event, *args, **kw)
        return None

    warn = warning

    def error(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if self._logger.isEnabledFor(logging.ERROR):
            return super().error(event, *args, **kw)
        return None

    def exception(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if self._logger.isEnabledFor(logging.ERROR):
            kw.setdefault("exc_info", True)
            return super().error(event, *args, **kw)
        return None


def get_logger(name: str, **initial: Any) -> Any:
    """A structlog logger over ``logging.getLogger(name)`` (see the module docstring)."""
    logger = structlog.wrap_logger(
        logging.getLogger(name),
        processors=_PROCESSORS,
        wrapper_class=_BoundLogger,
        context_class=dict,
        cache_logger_on_first_use=True,
    )
    return logger.bind(**initial) if initial else logger


class StructuredFormatter(logging.Formatter):
    """One line per record: console ``time [level] logger: event key=value`` or a JSON object.

    Both carry an ISO 8601 UTC ``timestamp``; exceptions follow (console) or go in ``exception``
    (JSON). Records of other libraries are rendered the same way from their message.
    """

    def __init__(self, json: bool = False) -> None:
        super().__init__()
        self.json = json

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, EVENT_ATTR, None) or {"event": record.getMessage()})
        event = fields.pop("event", "")
        exc = self.formatException(record.exc_info) if record.exc_info else None
        if self.json:
            doc = {
                "timestamp": iso_utc(record.created), "level": record.levelname.lower(),
                "logger": record.name, "event": event, **fields,
            }  # fmt: skip
            if exc:
                doc["exception"] = exc
            return orjson.dumps(doc, default=str).decode()
        line = f"{iso_utc(record.created)} [{record.levelname.lower():<7}] {record.name}: {event}"
        if fields:
            line += " " + _kv(fields)
        return f"{line}\n{exc}" if exc else line


_HANDLER_MARK = "_rocketmq_handler"


def configure_logging(
    level: int | str = "info", *, json: bool = False, stream: IO[str] | None = None
) -> logging.Handler:
    """Log at ``level`` and above to ``stream`` (default stderr), console lines or JSON.

    Configures the root logger: one handler with :class:`StructuredFormatter` (a previous one
    installed by this function is replaced, handlers of the application are kept). Returns the
    handler. For finer control configure ``logging`` yourself and use :class:`StructuredFormatter`.

    Raises:
        ValueError: unknown level name.
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use debug, info, warning or error")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(StructuredFormatter(json=json))
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(numeric)
    return handler
