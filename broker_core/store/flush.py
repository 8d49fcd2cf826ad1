"""Flush policies: when appended bytes are forced to disk, and when a put may complete.

``CommitLogFlusher`` is the seam between the write path and durability:

* :class:`AsyncFlushService` (ASYNC_FLUSH): a put completes right after the append. A task flushes every
  ``flush_interval_commit_log`` ms once ``flush_commit_log_least_pages`` pages are dirty, or everything
  after ``flush_commit_log_thorough_interval`` ms.
* :class:`GroupCommitService` (SYNC_FLUSH): ``submit`` returns a future resolved when the flushed
  position passes the put's end offset. A thread of its own runs ``fdatasync`` back to back while
  anything appended is not on disk (and parks when everything is): each sync covers every byte
  appended before it started, so all producers waiting at that moment share it (group commit), and
  producers that arrive during a sync are covered by the next one, which starts as soon as the
  previous returns (no timer on this path). Appends go on on the loop meanwhile. Each finished sync
  reaches the loop as one callback that answers every covered producer at once (Apache's
  ``GroupCommitService`` swaps a write and a read request list around ``MappedFile.flush``; the
  waiters here are a deque in end-offset order). One timer per service (not per put) answers
  FLUSH_DISK_TIMEOUT to puts older than ``sync_flush_timeout`` ms. While one sync has been running
  longer than ``osPageCacheBusyTimeOutMills`` (the disk stalls), :meth:`stalled_ms` makes the store
  refuse new puts with OS_PAGECACHE_BUSY (answered SYSTEM_ERROR "[PC_SYNCHRONIZED]broker busy")
  instead of queueing ever more waiters — the back-pressure Apache applies when its put lock is held
  too long. The sync thread reads segment positions written by the loop; it relies on an append
  storing its bytes before it advances ``wrote_position`` (so a sync never claims unwritten bytes).

:class:`ConsumeQueueFlushService` flushes the consume queues every ``flush_interval_consume_queue`` ms
and persists the checkpoint on its thorough flush. Every service does a final full flush on shutdown.
Blocking syncs run in worker threads; the loop never waits on the disk.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import threading
import time
from typing import Protocol

from broker_core.config.store import FlushDiskType, StoreConfig
from broker_core.logsetup import get_logger
from broker_core.store.checkpoint import StoreCheckpoint
from broker_core.store.commit_log import CommitLog
from broker_core.store.consume_queues import ConsumeQueueStore
from broker_core.store.mapped_file import MappedFile
from broker_core.store.results import PutStatus

__all__ = [
    "AsyncFlushService",
    "CommitLogFlusher",
    "ConsumeQueueFlushService",
    "GroupCommitService",
    "make_commit_log_flusher",
]

log = get_logger(__name__)
#: pause before retrying a failed commit-log sync
_RETRY_S = 0.01


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
    """SYNC_FLUSH commit-log flusher with group commit (see module docstring).

    Threads: ``submit``, the expiry timer and ``_synced`` run on the event loop; ``_sync_loop`` runs in
    the service's own thread and does nothing but pick the next range (the written end of the segment
    after what it last synced) and ``fdatasync`` it. It never sleeps on a timer: it syncs again at once
    while anything appended is not yet on disk, and parks on an event only when everything is. Each
    finished sync is handed to the loop by one ``call_soon_threadsafe``, which publishes the flushed
    position and answers, oldest first, every waiter whose end offset it covers.
    """

    def __init__(self, config: StoreConfig, commit_log: CommitLog, checkpoint: StoreCheckpoint) -> None:
        self._timeout = config.sync_flush_timeout / 1000
        self._commit_log = commit_log
        self._queue = commit_log.queue
        self._checkpoint = checkpoint
        #: (end offset, deadline, store timestamp, future), in end-offset order (appends are ordered)
        self._waiters: collections.deque[tuple[int, float, int, asyncio.Future[PutStatus]]] = (
            collections.deque()
        )
        #: end offset and store timestamp of the newest append (for the checkpoint without waiters)
        self._mark = (0, 0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._idle = False
        self._stopping = False
        self._sync_started = 0
        #: owned by the sync thread: global offset synced so far; syncs posted vs. published
        self._synced_to = 0
        self._posted = 0
        self._published = 0
        #: counters for benchmarks: fdatasync calls and the waiters they answered
        self.syncs = 0
        self.answered = 0

    def start(self) -> None:
        """Start the sync thread (the loop is the running one)."""
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._synced_to = self._queue.flushed_where
        self._posted = self._published = 0
        self._wake.clear()
        self._thread = threading.Thread(target=self._sync_loop, name="store-group-commit", daemon=True)
        self._thread.start()

    def submit(self, next_offset: int, wait: bool) -> asyncio.Future[PutStatus] | None:
        """After an append ending at ``next_offset``; with ``wait`` a future resolved once it is durable."""
        self._mark = (next_offset, self._commit_log.last_store_timestamp)
        if self._idle:  # the sync thread is parked: ring it (a busy one looks again by itself)
            self._idle = False
            self._wake.set()
        if not wait or self._queue.flushed_where >= next_offset:
            return None
        loop = self._loop
        assert loop is not None, "GroupCommitService.submit before start"
        fut = loop.create_future()
        self._waiters.append((next_offset, loop.time() + self._timeout, self._mark[1], fut))
        if self._timer is None:
            self._timer = loop.call_at(loop.time() + self._timeout, self._expire)
        return fut

    # ---- sync thread ------------------------------------------------------------------------
    def _next_range(self) -> tuple[MappedFile, int] | None:
        """The segment holding the first unsynced byte and its written end (None: all synced)."""
        queue = self._queue
        flushed = queue.flushed_where
        if self._posted == self._published and flushed != self._synced_to:
            self._synced_to = flushed  # moved by someone else (recovery, truncation, a final flush)
        mf = queue.locate(self._synced_to)
        if mf is None:
            first = queue.first_file()
            if first is None or self._synced_to >= first.file_from_offset:
                return None
            mf = first
        end = mf.wrote_position
        if mf.file_from_offset + end <= self._synced_to:
            return None
        return mf, end

    def _sync_loop(self) -> None:
        loop = self._loop
        assert loop is not None
        while True:
            self._idle = True
            step = self._next_range()
            if step is None:
                if self._stopping:
                    return
                self._wake.wait()
                self._wake.clear()
                continue
            self._idle = False
            mf, end = step
            self._sync_started = _now_ms()
            try:
                mf.sync()
            except (OSError, ValueError):  # ValueError: the segment was closed meanwhile
                log.exception("group commit sync failed", segment=mf.path.name)
                self._sync_started = 0
                if self._stopping:
                    return
                time.sleep(_RETRY_S)  # not the critical path: waiters time out if the disk stays broken
                continue
            self._sync_started = 0
            self._synced_to = mf.file_from_offset + end
            self._posted += 1
            self.syncs += 1
            try:
                loop.call_soon_threadsafe(self._synced, mf, end)
            except RuntimeError:  # the loop is closed (shutdown without ``shutdown``)
                return

    # ---- loop side ----------------------------------------------------------------------------
    def _synced(self, mf: MappedFile, end: int) -> None:
        """A sync finished: publish it, answer every waiter it covers, advance the checkpoint time."""
        self._queue.publish_flushed(mf, end)
        self._published += 1  # after publishing: the sync thread compares the counts, then the offsets
        self._answer(self._queue.flushed_where)

    def _answer(self, flushed: int) -> None:
        waiters = self._waiters
        store_ts = 0
        answered = 0
        while waiters and waiters[0][0] <= flushed:
            _, _, store_ts, fut = waiters.popleft()
            if not fut.done():
                fut.set_result(PutStatus.PUT_OK)
                answered += 1
        self.answered += answered
        mark_offset, mark_ts = self._mark
        if mark_offset <= flushed:
            store_ts = mark_ts
        if store_ts:
            self._checkpoint.physic_msg_timestamp = max(self._checkpoint.physic_msg_timestamp, store_ts)
        if not waiters and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        """Answer FLUSH_DISK_TIMEOUT to waiters past their deadline; re-arm for the oldest left."""
        loop = self._loop
        assert loop is not None
        self._timer = None
        now = loop.time()
        waiters = self._waiters
        while waiters and waiters[0][1] <= now:
            fut = waiters.popleft()[3]
            if not fut.done():
                fut.set_result(PutStatus.FLUSH_DISK_TIMEOUT)
        if waiters:
            self._timer = loop.call_at(waiters[0][1], self._expire)

    def stalled_ms(self) -> int:
        """Age of the sync in progress (the OS_PAGECACHE_BUSY back-pressure signal)."""
        started = self._sync_started
        return _now_ms() - started if started else 0

    async def shutdown(self) -> None:
        """Stop the thread after it synced everything appended, then answer every waiter."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        await asyncio.sleep(0)  # run the thread's last ``_synced`` callbacks
        await _flush_commit_log(self._commit_log, self._checkpoint, 0)
        self._answer(self._queue.flushed_where)
        while self._waiters:  # not covered even now (the disk failed): they would have timed out
            fut = self._waiters.popleft()[3]
            if not fut.done():
                fut.set_result(PutStatus.FLUSH_DISK_TIMEOUT)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def _flush_commit_log(commit_log: CommitLog, checkpoint: StoreCheckpoint, least_pages: int) -> None:
    """Flush; the physic timestamp advances only when everything appended before the call is on disk
    (a partial flush, e.g. one segment of several, must not claim the newest record's time)."""
    store_ts = commit_log.last_store_timestamp
    end = commit_log.queue.max_offset
    await commit_log.queue.flush(least_pages)
    if store_ts and commit_log.queue.flushed_where >= end:
        checkpoint.physic_msg_timestamp = max(checkpoint.physic_msg_timestamp, store_ts)


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
