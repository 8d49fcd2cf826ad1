"""Which event loop the servers (and the client's own loop thread) run on: uvloop when available.

``uvloop`` (libuv under the asyncio API) cuts the per-message cost of the transport layer; it is
the ``accel`` extra, installed by ``make venv`` / ``make run`` where it builds, and never required:
the stdlib loop runs the same code and passes the same tests. The choice, first that is set:

1. ``--loop auto|uvloop|asyncio`` of ``python -m broker_core namesrv|broker`` (or ``choice=``);
2. the environment variable ``ROCKETMQ_EVENT_LOOP`` (same values), which child processes inherit,
   so a test run or a supervisor can switch every server it starts;
3. ``auto``: uvloop if it imports, else asyncio. ``ROCKETMQ_PURE_PYTHON=1`` (no accelerations at
   all, see :mod:`broker_core._accel`) makes ``auto`` mean asyncio.

An explicit ``uvloop`` that cannot be imported is an error (:class:`ConfigError`), not a silent
fallback. The servers log the loop they run on at start-up (``event loop loop=uvloop``).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any, TypeVar

from broker_core._accel import PURE_ENV, pure_python
from broker_core.errors import ConfigError

__all__ = [
    "CHOICES",
    "LOOP_ENV",
    "PURE_ENV",
    "loop_name",
    "new_event_loop",
    "pure_python",
    "resolve",
    "run",
    "uvloop_module",
]

T = TypeVar("T")

LOOP_ENV = "ROCKETMQ_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")


def uvloop_module() -> ModuleType | None:
    """The ``uvloop`` module, or None when it is not installed or does not load here."""
    try:
        return importlib.import_module("uvloop")
    except ImportError:
        return None


def _requested(choice: str | None) -> str:
    value = choice if choice is not None else (os.environ.get(LOOP_ENV) or "auto")
    value = value.strip().lower()
    if value not in CHOICES:
        source = "--loop" if choice is not None else LOOP_ENV
        raise ConfigError(f"{source}={value!r}: expected one of {', '.join(CHOICES)}")
    return value


def resolve(choice: str | None = None) -> str:
    """``"uvloop"`` or ``"asyncio"``: the loop that ``choice`` (None: the environment) means here."""
    wanted = _requested(choice)
    if wanted == "asyncio" or (wanted == "auto" and pure_python()):
        return "asyncio"
    if uvloop_module() is None:
        if wanted == "uvloop":
            raise ConfigError(
                "event loop uvloop requested but uvloop is not installed "
                "(pip install -e '.[accel]', or use --loop auto / asyncio)"
            )
        return "asyncio"
    return "uvloop"


def _factory(choice: str | None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if resolve(choice) == "uvloop":
        module = uvloop_module()
        assert module is not None  # resolve() checked
        factory: Callable[[], asyncio.AbstractEventLoop] = module.new_event_loop
        return factory
    return None


def new_event_loop(choice: str | None = None) -> asyncio.AbstractEventLoop:
    """A new loop of the chosen kind (not set as the thread's current loop)."""
    factory = _factory(choice)
    return factory() if factory is not None else asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T], choice: str | None = None) -> T:
    """:func:`asyncio.run` on the chosen loop (the stdlib path is exactly ``asyncio.run``)."""
    try:
        factory = _factory(choice)
    except ConfigError:
        main.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def loop_name(loop: asyncio.AbstractEventLoop | None = None) -> str:
    """``"uvloop"`` or ``"asyncio"`` for ``loop`` (default: the running loop)."""
    target = loop if loop is not None else asyncio.get_running_loop()
    return "uvloop" if type(target).__module__.split(".")[0] == "uvloop" else "asyncio"
