"""Eager coroutine execution: run a handler's first step now, make a task only if it suspends.

Most request handlers are coroutines that finish without ever suspending (an ASYNC_FLUSH put is a
memory copy). Creating an :class:`asyncio.Task` for each costs a task object and a loop iteration
per request; Python 3.12's eager task factory removes that cost, and this module does the same for
the one call site that matters on 3.11: :meth:`Channel._dispatch`.

Protocol: ``coro.send(None)`` either raises ``StopIteration`` (finished, the value is the result)
or returns what the coroutine yielded: an asyncio future it waits on (``Future.__await__`` yields
the future itself and reads its result on resumption) or ``None`` (a bare yield, as in
``asyncio.sleep(0)``). :func:`finish` then drives the rest like a Task would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

_NOT_DONE = object()


def step(coro: Coroutine[Any, Any, Any]) -> tuple[Any, Any]:
    """Run the first step; returns ``(result, None)`` when finished, else ``(_NOT_DONE, yielded)``.

    An exception raised by the coroutine propagates to the caller.
    """
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return stop.value, None
    return _NOT_DONE, yielded


def is_done(result: Any) -> bool:
    return result is not _NOT_DONE


async def finish(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    """Drive a coroutine that suspended in :func:`step` to completion (inside a task)."""
    loop = asyncio.get_running_loop()
    while True:
        if yielded is None:
            await asyncio.sleep(0)
        else:
            yielded._asyncio_future_blocking = False
            waiter = loop.create_future()

            def wake(_: Any, w: asyncio.Future[None] = waiter) -> None:
                if not w.done():
                    w.set_result(None)

            yielded.add_done_callback(wake)
            try:
                await waiter
            except asyncio.CancelledError:
                yielded.cancel()  # the coroutine sees CancelledError when it reads the result
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            return stop.value
