"""Flush policies: when appended bytes are forced to disk, and when a put may complete.

``CommitLogFlusher`` is the seam between the write path and durability:

* :class:`AsyncFlushService` (ASYNC_FLUSH): a put completes right after the append. A task flushes every
  ``flush_interval_commit_log`` ms once ``flush_commit_log_least_pages`` pages are dirty, or everything
  after ``flush_commit_log_thorough_interval`` ms.
* :class:`GroupCommitService` (SYNC_FLUSH): ``submit`` returns a future resolved when the flushed
  position passes the put's end offset. One fsync (in a worker thread) covers every put that arrived
  before it started, so concurrent producers share fsyncs (group commit). While an fsync runs, new
  requests accumulate for the next one. A timer resolves a request with FLUSH_DISK_TIMEOUT after
  ``sync_flush_timeout`` ms. While one group commit has been running longer than
  ``osPageCacheBusyTimeOutMills`` (the disk stalls), :meth:`stalled_ms` makes the store refuse new
  puts with OS_PAGECACHE_BUSY (answered SYSTEM_ERROR "[PC_SYNCHRONIZED]broker busy") instead of
  queueing ever more waiters — the back-pressure Apache applies when its put lock is held too long.

:class:`ConsumeQueueFlushService` flushes the consume queues every ``flush_interval_consume_queue`` ms
and persists the checkpoint on its thorough flush. Every service does a final full flush on shutdown.
Blocking syncs run in worker threads; the loop never waits on the disk.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from typing import Protocol

from broker_core.config.store import FlushDiskType, StoreConfig
from broker_core.logsetup import get_logger
from broker_core.store.checkpoint import StoreCheckpoint
from broker_core.store.commit_log import CommitLog
from broker_core.store.consume_queues import ConsumeQueueStore
from broker_core.store.results import PutStatus

__all__ = [
    "AsyncFlushService",
    "CommitLogFlusher",
    "ConsumeQueueFlushService",
    "GroupCommitService",
    "make_commit_log_flusher",
]

log = get_logger(__name__)


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class CommitLogFlusher(Protocol):
    """How the write path hands durability to a flush policy."""

    def start(self) -> None:
        """Start the background task on the running loop."""

    def submit(self, next_offset: int, wait: bool) -> asyncio.Future[PutStatus] | None:
        """Called after an append ending at ``next_offset``; a future means "await it before acking"."""

    async def shutdown(self) -> None:
        """Stop, after flushing everything written."""

    def stalled_ms(self) -> int:
        """How long the commit-log sync in progress has been running (0 when none)."""


class _Periodic(abc.ABC):
    """A task that runs ``tick`` every ``interval_ms`` until stopped, then ``final``."""

    def __init__(self, interval_ms: int, name: str) -> None:
        self._interval = interval_ms / 1000
        self._name = name
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)
            if self._stop.is_set():
                break
            try:
                await self.tick()
            except OSError:
                log.exception("flush failed", service=self._name)

    @abc.abstractmethod
    async def tick(self) -> None:
        """One periodic flush decision (subclasses: commit log, consume queues)."""

    @abc.abstractmethod
    async def final(self) -> None:
        """The flush of everything at shutdown."""

    async def shutdown(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.final()


class AsyncFlushService(_Periodic):
    """ASYNC_FLUSH commit-log flusher (``FlushRealTimeService``)."""

    def __init__(self, config: StoreConfig, commit_log: CommitLog, checkpoint: StoreCheckpoint) -> None:
        super().__init__(config.flush_interval_commit_log, "store-flush-commitlog")
        self._config = config
        self._commit_log = commit_log
        self._checkpoint = checkpoint
        self._last_thorough = _now_ms()

    def submit(self, next_offset: int, wait: bool) -> asyncio.Future[PutStatus] | None:
        """Nothing to wait for: the periodic task catches up."""
        return None

    async def tick(self) -> None:
        least = self._config.flush_commit_log_least_pages
        now = _now_ms()
        if now - self._last_thorough >= self._config.flush_commit_log_thorough_interval:
            self._last_thorough = now
            least = 0
        await self.flush(least)

    async def flush(self, least_pages: int) -> None:
        """Flush the commit log; advance the checkpoint's physic timestamp once the flush covers it."""
        await _flush_commit_log(self._commit_log, self._checkpoint, least_pages)

    def stalled_ms(self) -> int:
        """Always 0: appends never wait for an async flush, so a slow one is no reason to refuse them."""
        return 0

    async def final(self) -> None:
        for _ in range(10):
            try:
                await self.flush(0)
                return
            except OSError:
                log.exception("final commit-log flush failed, retrying")


class GroupCommitService:
    """SYNC_FLUSH commit-log flusher with group commit (see module docstring)."""

    def __init__(self, config: StoreConfig, commit_log: CommitLog, checkpoint: StoreCheckpoint) -> None:
        self._timeout = config.sync_flush_timeout / 1000
        self._commit_log = commit_log
        self._checkpoint = checkpoint
        self._requests: list[tuple[int, asyncio.Future[PutStatus], asyncio.TimerHandle]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._sync_started = 0

    def start(self) -> None:
        """Start the group-commit task."""
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="store-group-commit")

    def submit(self, next_offset: int, wait: bool) -> asyncio.Future[PutStatus] | None:
        """Queue a flush request; with ``wait`` the returned future resolves when it is durable."""
        self._wake.set()
        if not wait or self._commit_log.queue.flushed_where >= next_offset:
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PutStatus] = loop.create_future()
        handle = loop.call_later(self._timeout, _expire, fut)
        self._requests.append((next_offset, fut, handle))
        return fut

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            requests, self._requests = self._requests, []
            self._sync_started = _now_ms()
            try:
                await _flush_commit_log(self._commit_log, self._checkpoint, 0)
            except OSError:
                log.exception("group commit flush failed")
            finally:
                self._sync_started = 0
            flushed = self._commit_log.queue.flushed_where
            for offset, fut, handle in requests:
                if fut.done():
                    continue
                if flushed >= offset:
                    handle.cancel()
                    fut.set_result(PutStatus.PUT_OK)
                else:  # not covered (I/O error): retry until the timer expires it
                    self._requests.append((offset, fut, handle))
                    self._wake.set()
            if self._stopping and not self._requests:
                return

    def stalled_ms(self) -> int:
        """Age of the group commit in progress (the OS_PAGECACHE_BUSY back-pressure signal)."""
        return _now_ms() - self._sync_started if self._sync_started else 0

    async def shutdown(self) -> None:
        """Flush everything and complete pending requests."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await _flush_commit_log(self._commit_log, self._checkpoint, 0)


async def _flush_commit_log(commit_log: CommitLog, checkpoint: StoreCheckpoint, least_pages: int) -> None:
    """Flush; the physic timestamp advances only when everything appended before the call is on disk
    (a partial flush, e.g. one segment of several, must not claim the newest record's time)."""
    store_ts = commit_log.last_store_timestamp
    end = commit_log.queue.max_offset
    await commit_log.queue.flush(least_pages)
    if store_ts and commit_log.queue.flushed_where >= end:
        checkpoint.physic_msg_timestamp = max(checkpoint.physic_msg_timestamp, store_ts)


def _expire(fut: asyncio.Future[PutStatus]) -> None:
    if not fut.done():
        fut.set_result(PutStatus.FLUSH_DISK_TIMEOUT)


class ConsumeQueueFlushService(_Periodic):
    """Flushes consume queues; the thorough flush also persists the checkpoint."""

    def __init__(self, config: StoreConfig, queues: ConsumeQueueStore, checkpoint: StoreCheckpoint) -> None:
        super().__init__(config.flush_interval_consume_queue, "store-flush-consumequeue")
        self._config = config
        self._queues = queues
        self._checkpoint = checkpoint
        self._last_thorough = _now_ms()

    async def tick(self) -> None:
        least = self._config.flush_consume_queue_least_pages
        now = _now_ms()
        thorough = now - self._last_thorough >= self._config.flush_consume_queue_thorough_interval
        if thorough:
            self._last_thorough = now
            least = 0
        if thorough:
            await self.flush_all()
            await self._checkpoint.save()
        else:
            await self._queues.flush(least)

    async def flush_all(self) -> None:
        """Flush every queue; a complete flush makes the dispatched logics time the checkpoint's."""
        dispatched = self._checkpoint.logics_dispatched_timestamp
        if await self._queues.flush(0):
            self._checkpoint.logics_msg_timestamp = max(self._checkpoint.logics_msg_timestamp, dispatched)

    async def final(self) -> None:
        for _ in range(3):
            try:
                await self.flush_all()
                return
            except OSError:
                log.exception("final consume-queue flush failed, retrying")


def make_commit_log_flusher(
    config: StoreConfig, commit_log: CommitLog, checkpoint: StoreCheckpoint
) -> AsyncFlushService | GroupCommitService:
    """The flusher for ``config.flush_disk_type``."""
    if config.flush_disk_type is FlushDiskType.SYNC_FLUSH:
        return GroupCommitService(config, commit_log, checkpoint)
    return AsyncFlushService(config, commit_log, checkpoint)
