"""ProcessQueue: the messages of one assigned queue that are pulled but not yet consumed.

Invariant (storage spec §3.5): the offset a concurrent consumer may commit is the smallest offset
still cached, or ``highest offset ever cached + 1`` when nothing is cached. So a committed offset
never passes a message whose listener call has not finished, whatever order batches finish in.

Messages of one queue are pulled in offset order and only removed (never re-inserted: a message
retried locally stays cached), so an insertion-ordered dict is a sorted map here and its first key
is the minimum.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

from broker_core.message.model import MessageExt

__all__ = ["ProcessQueue"]


class ProcessQueue:
    """Cached in-flight messages of one queue plus its pull/consume state."""

    __slots__ = (
        "_arrived",
        "_msgs",
        "_space",
        "_started",
        "cached_bytes",
        "dropped",
        "last_consume_timestamp",
        "last_lock_timestamp",
        "last_pull_timestamp",
        "locked",
        "queue_offset_max",
    )

    def __init__(self) -> None:
        self._msgs: dict[int, MessageExt] = {}
        self.queue_offset_max = -1
        self.cached_bytes = 0
        self.dropped = False
        self.locked = False  # orderly consumption: the broker lease is ours
        self.last_lock_timestamp = 0.0
        self.last_pull_timestamp = time.monotonic()
        self.last_consume_timestamp = time.monotonic()
        self._space: asyncio.Event | None = None
        self._arrived: asyncio.Event | None = None
        self._started: dict[int, float] = {}  # queue offset -> monotonic start of its listener call

    @property
    def cached_count(self) -> int:
        return len(self._msgs)

    @property
    def min_offset(self) -> int | None:
        return next(iter(self._msgs), None)

    @property
    def max_span(self) -> int:
        """``last offset - first offset`` of the cache (0 when empty)."""
        if not self._msgs:
            return 0
        return next(reversed(self._msgs)) - next(iter(self._msgs))

    def put(self, msgs: Iterable[MessageExt]) -> int:
        """Cache pulled messages; returns how many were new."""
        added = 0
        for m in msgs:
            if m.queue_offset not in self._msgs:
                self._msgs[m.queue_offset] = m
                self.cached_bytes += len(m.body)
                added += 1
            if m.queue_offset > self.queue_offset_max:
                self.queue_offset_max = m.queue_offset
        if added and self._arrived is not None:
            self._arrived.set()
        return added

    def take(self, n: int) -> list[MessageExt]:
        """The first ``n`` cached messages in offset order, left cached (orderly consumption)."""
        out: list[MessageExt] = []
        for m in self._msgs.values():
            if len(out) >= n:
                break
            out.append(m)
        return out

    async def wait_for_messages(self) -> None:
        """Wait until something is cached (or the queue is dropped)."""
        if self._arrived is None:
            self._arrived = asyncio.Event()
        while not self._msgs and not self.dropped:
            self._arrived.clear()
            await self._arrived.wait()

    def mark_consuming(self, msgs: Iterable[MessageExt], now: float) -> None:
        for m in msgs:
            self._started[m.queue_offset] = now

    def expired(self, now: float, max_age: float) -> list[MessageExt]:
        """Cached messages whose listener call started more than ``max_age`` seconds ago."""
        return [
            self._msgs[off] for off, t in self._started.items() if now - t > max_age and off in self._msgs
        ]

    def is_lock_expired(self, now: float, max_age: float) -> bool:
        return now - self.last_lock_timestamp > max_age

    def remove(self, msgs: Iterable[MessageExt]) -> int:
        """Forget consumed messages; returns the offset to commit, or -1 if the cache was empty."""
        if not self._msgs:
            return -1
        for m in msgs:
            self._started.pop(m.queue_offset, None)
            if self._msgs.pop(m.queue_offset, None) is not None:
                self.cached_bytes -= len(m.body)
        self.last_consume_timestamp = time.monotonic()
        if self._space is not None and not self._space.is_set():
            self._space.set()
        first = next(iter(self._msgs), None)
        return self.queue_offset_max + 1 if first is None else first

    def commit_offset(self) -> int:
        """What :meth:`remove` would return now without removing anything (-1 if nothing was cached)."""
        first = next(iter(self._msgs), None)
        if first is not None:
            return first
        return self.queue_offset_max + 1 if self.queue_offset_max >= 0 else -1

    def clear(self) -> None:
        self._msgs.clear()
        self._started.clear()
        self.cached_bytes = 0

    async def wait_for_space(self, timeout: float) -> None:
        """Block a paused pull until a consume frees space or ``timeout`` passes."""
        if self._space is None:
            self._space = asyncio.Event()
        self._space.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._space.wait()

    def drop(self) -> None:
        self.dropped = True
        self.locked = False
        for ev in (self._space, self._arrived):
            if ev is not None:
                ev.set()
