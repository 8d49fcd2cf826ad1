"""Flush policies: when appended bytes are forced to disk, and when a put may complete.

``CommitLogFlusher`` is the seam between the write path and durability:

* :class:`AsyncFlushService` (ASYNC_FLUSH): a put completes right after the append. A task flushes every
  ``flush_interval_commit_log`` ms once ``flush_commit_log_least_pages`` pages are dirty, or everything
  after ``flush_commit_log_thorough_interval`` ms.
* :class:`GroupCommitService` (SYNC_FLUSH): ``submit`` returns a :class:`~broker_core.pending.Pending`
  resolved when the flushed position passes the put's end offset. The ``fdatasync`` calls run in a
  helper process (:mod:`.syncer`, :mod:`.sync_helper`; a worker thread where no process can be
  started). After every loop turn that appended, the loop asks for a sync up to what is written; the
  helper, whenever it is free, syncs once for every request waiting, so all producers that arrived
  meanwhile share one sync (group commit) and it syncs back to back while producers keep coming (no
  timer on this path). Appends go on on the loop meanwhile. Each finished sync
  reaches the loop as one socket event that answers every covered producer at once (Apache's
  ``GroupCommitService`` swaps a write and a read request list around ``MappedFile.flush``; the
  waiters here are a deque in end-offset order). One timer per service (not per put) answers
  FLUSH_DISK_TIMEOUT to puts older than ``sync_flush_timeout`` ms. While one sync has been running
  longer than ``osPageCacheBusyTimeOutMills`` (the disk stalls), :meth:`stalled_ms` makes the store
  refuse new puts with OS_PAGECACHE_BUSY (answered SYSTEM_ERROR "[PC_SYNCHRONIZED]broker busy")
  instead of queueing ever more waiters — the back-pressure Apache applies when its put lock is held
  too long. A sync is asked for up to a segment's ``wrote_position``, which an append advances only
  after storing its bytes (so a sync never claims unwritten bytes).

:class:`ConsumeQueueFlushService` flushes the consume queues every ``flush_interval_consume_queue`` ms
and persists the checkpoint on its thorough flush. Every service does a final full flush on shutdown.
Blocking syncs run in worker threads; the loop never waits on the disk.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import time
from typing import Protocol

from broker_core.config.store import FlushDiskType, StoreConfig
from broker_core.logsetup import get_logger
from broker_core.pending import Pending
from broker_core.store.checkpoint import StoreCheckpoint
from broker_core.store.commit_log import CommitLog
from broker_core.store.consume_queues import ConsumeQueueStore
from broker_core.store.mapped_file import MappedFile
from broker_core.store.results import PutStatus
from broker_core.store.syncer import Syncer, make_syncer

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

    def submit(self, next_offset: int, wait: bool) -> Pending[PutStatus] | None:
        """Called after an append ending at ``next_offset``; a pending result means "answer after it"."""

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

    def submit(self, next_offset: int, wait: bool) -> Pending[PutStatus] | None:
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

    Everything here runs on the event loop; only the ``fdatasync`` itself runs elsewhere, in the
    :mod:`~broker_core.store.syncer` (a helper process, or a worker thread as the fallback), with up
    to ``syncer.depth`` requests in flight (the thread takes one at a time). ``submit`` queues the
    waiter and schedules one ``_kick`` for the end of the loop turn (so every put read in that turn
    shares a request). ``_kick`` asks for each segment written past the last request, up to its
    written end; as answers come, oldest first, ``_sync_done`` publishes the flushed position and
    answers every waiter it covers. A failed sync is logged and asked for again from the flushed
    position after ``_RETRY_S``; answers to requests sent before the failure are not trusted.
    """

    def __init__(self, config: StoreConfig, commit_log: CommitLog, checkpoint: StoreCheckpoint) -> None:
        self._timeout = config.sync_flush_timeout / 1000
        self._commit_log = commit_log
        self._queue = commit_log.queue
        self._checkpoint = checkpoint
        #: (end offset, deadline, store timestamp, pending), in end-offset order (appends are ordered)
        self._waiters: collections.deque[tuple[int, float, int, Pending[PutStatus]]] = collections.deque()
        #: end offset and store timestamp of the newest append (for the checkpoint without waiters)
        self._mark = (0, 0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._syncer: Syncer | None = None
        #: requests in flight, oldest first: segment, written end it claims, generation (a failed
        #: sync starts a new generation; answers to older requests are not trusted)
        self._inflight: collections.deque[tuple[MappedFile, int, int]] = collections.deque()
        self._gen = 0
        #: when the oldest request in flight began to be served (ms; 0: none in flight)
        self._sync_started = 0
        self._kick_pending = False
        self._stopping = False
        self._idle: asyncio.Future[None] | None = None
        #: counters for benchmarks: syncs done and the waiters they answered
        self.syncs = 0
        self.answered = 0

    def start(self) -> None:
        """Start the syncer (the loop is the running one)."""
        self._loop = loop = asyncio.get_running_loop()
        self._stopping = False
        self._syncer = make_syncer(loop, self._sync_done)
        self._schedule_kick()  # anything appended before start (recovery) gets synced too

    def submit(self, next_offset: int, wait: bool) -> Pending[PutStatus] | None:
        """After an append ending at ``next_offset``; with ``wait`` a pending resolved once it is durable."""
        self._mark = (next_offset, self._commit_log.last_store_timestamp)
        syncer = self._syncer
        if syncer is not None and len(self._inflight) < syncer.depth:
            self._schedule_kick()
        if not wait or self._queue.flushed_where >= next_offset:
            return None
        loop = self._loop
        assert loop is not None, "GroupCommitService.submit before start"
        fut: Pending[PutStatus] = Pending()
        self._waiters.append((next_offset, loop.time() + self._timeout, self._mark[1], fut))
        if self._timer is None:
            self._timer = loop.call_at(loop.time() + self._timeout, self._expire)
        return fut

    def _schedule_kick(self) -> None:
        if not self._kick_pending and self._loop is not None:
            self._kick_pending = True
            self._loop.call_soon(self._kick)

    def _next_range(self, start: int) -> tuple[MappedFile, int] | None:
        """The segment holding global offset ``start`` and its written end (None: nothing after it)."""
        queue = self._queue
        mf = queue.locate(start)
        if mf is None:
            first = queue.first_file()
            if first is None or start >= first.file_from_offset:
                return None
            mf = first
        end = mf.wrote_position
        if mf.file_from_offset + end <= start:
            return None
        return mf, end

    def _kick(self) -> None:
        """Ask for syncs of what is appended and not yet asked for, up to the syncer's depth."""
        self._kick_pending = False
        syncer = self._syncer
        if syncer is None:
            return
        inflight = self._inflight
        while len(inflight) < syncer.depth and not self._stopping:
            last = inflight[-1] if inflight else None
            if last is not None and last[2] == self._gen:
                start = last[0].file_from_offset + last[1]
            else:
                start = self._queue.flushed_where
            step = self._next_range(start)
            if step is None:
                break
            if not inflight:
                self._sync_started = _now_ms()
            inflight.append((step[0], step[1], self._gen))
            try:
                syncer.request(step[0])
            except OSError as exc:
                inflight.pop()
                if not inflight:
                    self._sync_started = 0
                self._failed(step[0], exc)
                break
        if not inflight and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    def _sync_done(self, error: OSError | None) -> None:
        """The oldest request ended: publish it and answer the waiters it covers, then sync on."""
        if not self._inflight:
            return
        mf, end, gen = self._inflight.popleft()
        self._sync_started = _now_ms() if self._inflight else 0
        if error is not None:
            self._failed(mf, error)
        elif gen == self._gen:
            self.syncs += 1
            self._queue.publish_flushed(mf, end)
            self._answer(self._queue.flushed_where)
        self._kick()

    def _failed(self, mf: MappedFile, error: OSError) -> None:
        """Log; distrust the requests still in flight; ask again from the flushed position shortly."""
        log.error("group commit sync failed", segment=mf.path.name, error=str(error))
        self._gen += 1
        loop = self._loop
        assert loop is not None
        # not the critical path: waiters time out if the disk stays broken
        loop.call_later(_RETRY_S, self._schedule_kick)

    def _answer(self, flushed: int) -> None:
        waiters = self._waiters
        store_ts = 0
        answered = 0
        while waiters and waiters[0][0] <= flushed:
            _, _, store_ts, fut = waiters.popleft()
            if not fut.done():
                fut.resolve(PutStatus.PUT_OK)  # writes the producer's answer now (see Pending)
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
                fut.resolve(PutStatus.FLUSH_DISK_TIMEOUT)
        if waiters:
            self._timer = loop.call_at(waiters[0][1], self._expire)

    def stalled_ms(self) -> int:
        """Age of the sync in progress (the OS_PAGECACHE_BUSY back-pressure signal)."""
        started = self._sync_started
        return _now_ms() - started if started else 0

    async def shutdown(self) -> None:
        """Let the sync in flight end, flush everything appended, answer every waiter, stop the helper."""
        self._stopping = True
        if self._inflight:
            self._idle = asyncio.get_running_loop().create_future()
            await self._idle
            self._idle = None
        if self._syncer is not None:
            await self._syncer.close()
            self._syncer = None
        await _flush_commit_log(self._commit_log, self._checkpoint, 0)
        self._answer(self._queue.flushed_where)
        while self._waiters:  # not covered even now (the disk failed): they would have timed out
            fut = self._waiters.popleft()[3]
            if not fut.done():
                fut.resolve(PutStatus.FLUSH_DISK_TIMEOUT)
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
