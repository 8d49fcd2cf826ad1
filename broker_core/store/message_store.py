"""``MessageStore``: the store facade the broker talks to. It wires the parts and owns their lifecycle.

Parts: :class:`CommitLog` (append + read), :class:`ConsumeQueueStore` (per-queue indexes),
:class:`ReputService` (commit log -> dispatchers -> arrival listener), a commit-log flusher chosen by
``flush_disk_type``, the consume-queue flusher, the checkpoint, and the ``lock``/``abort`` files.

Everything runs on one asyncio loop: puts are synchronous appends (the ``async`` only matters for
SYNC_FLUSH, where the put awaits its group commit); reads are synchronous mmap slices.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Protocol

from broker_core.config.store import StoreConfig, parse_delay_levels
from broker_core.errors import MessageDecodeError, StoreError, StoreNotRunningError
from broker_core.logsetup import get_logger
from broker_core.message.codec import decode_record
from broker_core.message.model import BrokerMessage, MessageExt
from broker_core.pending import Pending
from broker_core.store.checkpoint import StoreCheckpoint, StoreLock, create_abort_file, remove_abort_file
from broker_core.store.commit_log import CommitLog
from broker_core.store.consume_queues import ConsumeQueueDispatcher, ConsumeQueueStore
from broker_core.store.dispatch import ArrivalListener, Dispatcher, ReputService
from broker_core.store.flush import ConsumeQueueFlushService, make_commit_log_flusher
from broker_core.store.index_service import IndexService
from broker_core.store.read_path import ReadLimits, read_messages
from broker_core.store.recovery import RecoveryResult, recover
from broker_core.store.results import GetResult, PutResult, PutStatus, QueryResult
from broker_core.store.retention import CleanService

__all__ = ["MessageStore", "Replicator"]

log = get_logger(__name__)
_NOT_AVAILABLE = PutResult(PutStatus.SERVICE_NOT_AVAILABLE)
_PAGE_CACHE_BUSY = PutResult(PutStatus.OS_PAGECACHE_BUSY)


def _total_physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 << 30


class Replicator(Protocol):
    """The write path's hook into replication (the HA master service)."""

    def submit(self, next_offset: int, wait: bool) -> asyncio.Future[PutStatus] | PutStatus | None:
        """Called after an append ending at ``next_offset``: a status, or a future to await, or None."""


class MessageStore:
    """Commit log + consume queues + dispatch + flush, behind put/get calls."""

    def __init__(self, config: StoreConfig, *, arrival_listener: ArrivalListener | None = None) -> None:
        self.config = config
        self.commit_log = CommitLog(config)
        self.queues = ConsumeQueueStore(config)
        self.checkpoint = StoreCheckpoint(config.checkpoint_path)
        self.dispatchers: list[Dispatcher] = [ConsumeQueueDispatcher(self.queues, self.checkpoint)]
        self.index = IndexService(config, self.checkpoint)
        if config.message_index_enable:
            self.dispatchers.append(self.index)
        self.cleaner = CleanService(config, self.commit_log, self.queues, self.index)
        self.reput = ReputService(
            self.commit_log,
            self.dispatchers,
            arrival_listener=arrival_listener,
            delay_levels=parse_delay_levels(config.message_delay_level),
        )
        self.flusher = make_commit_log_flusher(config, self.commit_log, self.checkpoint)
        self.cq_flusher = ConsumeQueueFlushService(config, self.queues, self.checkpoint)
        self.recovery: RecoveryResult | None = None
        self._lock = StoreLock(config.lock_path)
        self._limits = ReadLimits.from_config(config, _total_physical_memory())
        self._running = False
        self._busy_ms = config.os_page_cache_busy_timeout_millis
        #: set by the broker on a SYNC/ASYNC master: replication of every append
        self.replicator: Replicator | None = None
        #: False on a slave: puts answer SERVICE_NOT_AVAILABLE, data only comes from the master
        self.writable = True

    # ---- lifecycle ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True between a successful ``start`` and ``shutdown``."""
        return self._running

    async def start(self) -> None:
        """Lock, load, recover, dispatch the backlog, start the services, create ``abort``.

        Raises:
            StoreLockedError: the directory is in use.
            StoreError: a segment has the wrong size.
        """
        cfg = self.config
        cfg.store_path_root_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            abnormal = cfg.abort_path.exists()
            if abnormal:
                log.warning("abort file found: last shutdown was not clean, running abnormal recovery")
            self.commit_log.load()
            self.queues.load()
            self.checkpoint.load()
            self.recovery = recover(
                self.commit_log, self.queues, self.checkpoint, abnormal=abnormal,
                check_crc=cfg.check_crc_on_recover, index_safe=cfg.message_index_enable and cfg.message_index_safe,
            )  # fmt: skip
            self.queues.correct_min_offsets(self.commit_log.min_offset)
            reput_from = self.recovery.reput_from_offset
            index_from = self.index.load(self.recovery.process_offset)
            if index_from is not None and cfg.message_index_enable:
                reput_from = max(self.commit_log.min_offset, min(reput_from, index_from))
            self.reput.reput_from_offset = reput_from
            self.reput.start()
            await self.reput.wait_dispatched()
            self.commit_log.queue_offsets = self.queues.queue_offset_table()
            create_abort_file(cfg.abort_path)
        except BaseException:
            await self.reput.shutdown()
            self.commit_log.close()
            self.queues.close()
            self.index.close()
            self._lock.release()
            raise
        self.flusher.start()
        self.cq_flusher.start()
        self.cleaner.start()
        self._running = True

    async def shutdown(self) -> None:
        """Dispatch and flush everything, save the checkpoint, remove ``abort``, release the lock."""
        if not self._running:
            return
        self._running = False
        await self.cleaner.shutdown()
        await self.reput.shutdown()
        await self.flusher.shutdown()
        await self.cq_flusher.shutdown()
        await self.index.wait_syncs()
        self.index.close()
        self.checkpoint.save_sync()
        if self.reput.behind() == 0:
            remove_abort_file(self.config.abort_path)
        self.commit_log.close()
        self.queues.close()
        self._lock.release()

    def add_dispatcher(self, dispatcher: Dispatcher) -> None:
        """Register a dispatcher after the consume-queue builder (e.g. the index builder)."""
        self.dispatchers.append(dispatcher)

    # ---- write --------------------------------------------------------------------------------
    def is_os_page_cache_busy(self) -> bool:
        """The commit-log sync in progress has run longer than ``osPageCacheBusyTimeOutMills``.

        The broker rejects sends with SYSTEM_BUSY while this holds (Apache's ``rejectRequest``),
        so producers back off or retry elsewhere instead of piling up behind a stalled disk.
        """
        return self.flusher.stalled_ms() > self._busy_ms

    async def put_message(self, msg: BrokerMessage, *, wait_store_msg_ok: bool = True) -> PutResult:
        """Append one message; with SYNC_FLUSH and ``wait_store_msg_ok`` wait for its group commit."""
        result = self.put_message_now(msg, wait_store_msg_ok=wait_store_msg_ok)
        return result if isinstance(result, PutResult) else await result

    async def put_messages(self, batch: list[BrokerMessage], *, wait_store_msg_ok: bool = True) -> PutResult:
        """Append a batch (same topic and queue) contiguously with consecutive queue offsets."""
        result = self.put_messages_now(batch, wait_store_msg_ok=wait_store_msg_ok)
        return result if isinstance(result, PutResult) else await result

    def put_message_now(
        self, msg: BrokerMessage, *, wait_store_msg_ok: bool = True
    ) -> PutResult | Awaitable[PutResult]:
        """:meth:`put_message` without a coroutine when nothing has to be awaited (the send hot path:
        an ASYNC_FLUSH append is final when it returns); otherwise an awaitable of the result."""
        if not self._running or not self.writable or self.cleaner.disk_full:
            return _NOT_AVAILABLE
        if self.flusher.stalled_ms() > self._busy_ms:
            return _PAGE_CACHE_BUSY
        return self._after_append(self.commit_log.put(msg), wait_store_msg_ok)

    def put_messages_now(
        self, batch: list[BrokerMessage], *, wait_store_msg_ok: bool = True
    ) -> PutResult | Awaitable[PutResult]:
        """:meth:`put_messages` without a coroutine when nothing has to be awaited."""
        if not self._running or not self.writable or self.cleaner.disk_full:
            return _NOT_AVAILABLE
        if self.flusher.stalled_ms() > self._busy_ms:
            return _PAGE_CACHE_BUSY
        return self._after_append(self.commit_log.put_batch(batch), wait_store_msg_ok)

    def _after_append(self, result: PutResult, wait: bool) -> PutResult | Awaitable[PutResult]:
        ar = result.append_result
        if ar is None:
            return result
        self.reput.wake()
        end = ar.wrote_offset + ar.wrote_bytes
        fut = self.flusher.submit(end, wait)
        # Both waits run at once; a replication failure outranks a flush failure (storage spec §2.2).
        replica = self.replicator.submit(end, wait) if self.replicator is not None else None
        if fut is None and (replica is None or isinstance(replica, PutStatus)):
            if replica is None or replica is PutStatus.PUT_OK:
                return result
            return PutResult(replica, ar)
        if replica is None and fut is not None:  # SYNC_FLUSH alone: chained, no coroutine
            return fut.map(lambda status: result if status is PutStatus.PUT_OK else PutResult(status, ar))
        return self._await_append(result, fut, replica)

    async def _await_append(  # flush and replication both (a coroutine: the rarer, costlier case)
        self,
        result: PutResult,
        fut: Pending[PutStatus] | None,
        replica: asyncio.Future[PutStatus] | PutStatus | None,
    ) -> PutResult:
        status = PutStatus.PUT_OK
        if fut is not None:
            status = await fut
        if replica is not None:
            replica_status = replica if isinstance(replica, PutStatus) else await replica
            if replica_status is not PutStatus.PUT_OK:
                status = replica_status
        return result if status is PutStatus.PUT_OK else PutResult(status, result.append_result)

    def append_from_master(self, offset: int, data: bytes) -> bool:
        """A slave's write path: append replicated commit-log bytes at ``offset`` and dispatch them.

        Returns:
            False when ``offset`` is not the end of the local commit log (the caller reconnects).
        """
        if not self._running:
            return False
        empty = not self.commit_log.queue.files
        try:
            if not self.commit_log.append_raw(offset, data):
                return False
        except (OSError, StoreError):
            log.exception("cannot append replicated data", offset=offset)
            return False
        if empty:
            self.reput.reput_from_offset = offset
        self.reput.wake()
        self.flusher.submit(offset + len(data), False)
        return True

    # ---- read ---------------------------------------------------------------------------------
    def _check_running(self) -> None:
        if not self._running:
            raise StoreNotRunningError("message store is not running")

    def get_message(
        self,
        group: str,
        topic: str,
        queue_id: int,
        offset: int,
        max_msg_nums: int,
        message_filter: Callable[[int], bool] | None = None,
        max_total_bytes: int | None = None,
        *,
        commit_log_filter: Callable[[bytes], bool] | None = None,
        views: bool = False,
    ) -> GetResult:
        """Read up to ``max_msg_nums`` records of a queue from ``offset`` (storage spec §2.8).

        ``message_filter`` gets each unit's tagsCode; ``commit_log_filter`` the raw record (SQL92).
        ``views``: the records as memoryviews of the mapped segments instead of copies (to be
        written out at once, as the pull response does).

        Raises:
            StoreNotRunningError: the store is not running (the broker answers SYSTEM_ERROR).
        """
        self._check_running()
        cq = self.queues.find_or_create(topic, queue_id)
        return read_messages(
            cq, self.commit_log, offset, max_msg_nums, self._limits, message_filter, commit_log_filter,
            max_total_bytes, views=views,
        )  # fmt: skip

    def delete_topic(self, topic: str) -> None:
        """What Apache's ``cleanUnusedTopic`` does for a deleted topic: its consume queues are
        unmapped and deleted and its queue offsets forgotten, so a topic created again under the
        same name starts at offset 0; its records stay in the commit log until it expires. Without
        it a broker whose clients create and delete topics (kombu's reply queues) would keep a
        mapping per queue for ever."""
        self.queues.remove_topic(topic)
        offsets = self.commit_log.queue_offsets
        for key in [k for k in offsets if k[0] == topic]:
            del offsets[key]

    def get_max_offset_in_queue(self, topic: str, queue_id: int) -> int:
        """Next queue offset to be written (0 for an unknown queue)."""
        cq = self.queues.find(topic, queue_id)
        return cq.max_offset_in_queue if cq is not None else 0

    def get_min_offset_in_queue(self, topic: str, queue_id: int) -> int:
        """Smallest readable queue offset (0 for an unknown queue)."""
        cq = self.queues.find(topic, queue_id)
        return cq.min_offset_in_queue if cq is not None else 0

    def get_commit_log_offset_in_queue(self, topic: str, queue_id: int, queue_offset: int) -> int:
        """Commit-log offset of a queue entry (0 if absent)."""
        cq = self.queues.find(topic, queue_id)
        unit = cq.get_unit(queue_offset) if cq is not None else None
        return unit[0] if unit is not None else 0

    def get_offset_in_queue_by_time(self, topic: str, queue_id: int, timestamp: int) -> int:
        """Queue offset whose store time is closest to ``timestamp`` (0 for an unknown queue)."""
        cq = self.queues.find(topic, queue_id)
        if cq is None:
            return 0
        return cq.get_offset_in_queue_by_time(timestamp, self.commit_log.pickup_store_timestamp)

    def get_message_store_timestamp(self, topic: str, queue_id: int, queue_offset: int) -> int:
        """Store time of one queue entry (-1 if absent)."""
        cq = self.queues.find(topic, queue_id)
        unit = cq.get_unit(queue_offset) if cq is not None else None
        return self.commit_log.pickup_store_timestamp(unit[0], unit[1]) if unit is not None else -1

    def get_earliest_message_time(self, topic: str, queue_id: int) -> int:
        """Store time of the oldest readable entry of a queue (-1 if none)."""
        return self.get_message_store_timestamp(
            topic, queue_id, self.get_min_offset_in_queue(topic, queue_id)
        )

    def select_one_message_by_offset(self, phy_offset: int, size: int | None = None) -> bytes | None:
        """The raw record at a commit-log offset (VIEW_MESSAGE_BY_ID), or None."""
        if size is None:
            size = self.commit_log.record_size_at(phy_offset)
            if size <= 0:
                return None
        return self.commit_log.read(phy_offset, size)

    def look_message_by_offset(self, phy_offset: int) -> MessageExt | None:
        """The decoded record at a commit-log offset, or None if absent/undecodable."""
        raw = self.select_one_message_by_offset(phy_offset)
        if raw is None:
            return None
        try:
            return decode_record(raw)
        except MessageDecodeError:
            return None

    def query_message(self, topic: str, key: str, max_num: int, begin: int, end: int) -> QueryResult:
        """Records whose ``topic#key`` hash is indexed in [begin, end] (QUERY_MESSAGE, spec §1.5).

        Offsets are sorted; an offset whose bytes are no longer a valid record (deleted segment, or a
        stale entry) is skipped. The key text is not compared (clients re-filter, as with Apache).
        """
        self._check_running()
        ts, phy = self.index.last_update
        records: list[bytes] = []
        for offset in sorted(self.index.query_offsets(topic, key, max_num, begin, end)):
            raw = self.select_one_message_by_offset(offset)
            if raw is not None and len(raw) >= 91 and raw[4:8] == b"\xda\xa3\x20\xa7":
                records.append(raw)
        return QueryResult(records, ts, phy)

    @property
    def max_phy_offset(self) -> int:
        """End of the commit log."""
        return self.commit_log.max_offset

    @property
    def min_phy_offset(self) -> int:
        """Start of the oldest commit-log segment."""
        return self.commit_log.min_offset

    def dispatch_behind_bytes(self) -> int:
        """Commit-log bytes not yet dispatched to consume queues."""
        return self.reput.behind()

    async def wait_dispatched(self) -> None:
        """Return when everything appended so far is in the consume queues (tests, admin)."""
        await self.reput.wait_dispatched()
