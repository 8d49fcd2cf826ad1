"""Hop coroutines onto the template's loop from callers on other event loops (``asend``).

``run_coroutine_threadsafe`` + ``wrap_future`` cost two self-pipe writes and two GIL hand-offs
per call; with many ``asend`` calls in flight that dominates. :class:`LoopHop` batches both
directions: a burst of submissions wakes the template loop once, and a burst of results wakes each
caller loop once.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopHop"]

T = TypeVar("T")


class LoopHop:
    """Runs coroutines on ``target`` for callers on other loops, coalescing wake-ups."""

    def __init__(self, target: asyncio.AbstractEventLoop) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._inbox: list[tuple[Callable[[], Coroutine[Any, Any, Any]], asyncio.Future[Any]]] = []
        self._inbox_scheduled = False
        self._outboxes: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]
        ] = {}

    def submit(self, make: Callable[[], Coroutine[Any, Any, T]]) -> asyncio.Future[T]:
        """Schedule ``make()`` on the target loop; the returned future belongs to the running loop."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._inbox.append((make, fut))
            wake = not self._inbox_scheduled
            self._inbox_scheduled = True
        if wake:
            self.target.call_soon_threadsafe(self._drain)
        return fut

    def _drain(self) -> None:
        with self._lock:
            items, self._inbox = self._inbox, []
            self._inbox_scheduled = False
        for make, fut in items:
            task = self.target.create_task(make())
            task.add_done_callback(functools.partial(self._finish, fut))

    def _finish(self, fut: asyncio.Future[Any], task: asyncio.Task[Any]) -> None:
        result: Any = None
        error: BaseException | None
        if task.cancelled():
            error = asyncio.CancelledError()
        else:
            error = task.exception()
            result = None if error is not None else task.result()
        loop = fut.get_loop()
        with self._lock:
            box = self._outboxes.get(loop)
            wake = box is None
            if box is None:
                box = self._outboxes[loop] = []
            box.append((fut, result, error))
        if wake:
            try:
                loop.call_soon_threadsafe(self._deliver, loop)
            except RuntimeError:  # the caller's loop is closed: nobody waits any more
                with self._lock:
                    self._outboxes.pop(loop, None)

    def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            box = self._outboxes.pop(loop, [])
        for fut, result, error in box:
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)
