"""Registry of consume queues, their recovery, and the consume-queue dispatcher.

``find_or_create`` creates the in-memory object only; files appear on the first write (so lookups of
unknown queues, which Apache also answers by creating an empty queue object, cost no disk space).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from broker_core.config.store import StoreConfig
from broker_core.store.checkpoint import StoreCheckpoint
from broker_core.store.consume_queue import ConsumeQueue
from broker_core.store.dispatch import DispatchRequest
from broker_core.store.mapped_file import MappedFile
from broker_core.store.segments import MappedFileQueue

__all__ = ["ConsumeQueueDispatcher", "ConsumeQueueStore"]


class ConsumeQueueStore:
    """All consume queues of a store: ``topic -> queue_id -> ConsumeQueue``."""

    def __init__(self, config: StoreConfig) -> None:
        self.root = config.consume_queue_dir
        self.file_size = config.mapped_file_size_consume_queue
        self.table: dict[str, dict[int, ConsumeQueue]] = {}

    def __iter__(self) -> Iterator[ConsumeQueue]:
        for queues in self.table.values():
            yield from queues.values()

    def find(self, topic: str, queue_id: int) -> ConsumeQueue | None:
        """The queue if it is known."""
        queues = self.table.get(topic)
        return queues.get(queue_id) if queues is not None else None

    def find_or_create(self, topic: str, queue_id: int) -> ConsumeQueue:
        """The queue, creating an empty one (no files yet) when unknown."""
        queues = self.table.get(topic)
        if queues is None:
            queues = self.table[topic] = {}
        cq = queues.get(queue_id)
        if cq is None:
            cq = queues[queue_id] = ConsumeQueue(topic, queue_id, self.root, self.file_size)
        return cq

    # ---- start-up -----------------------------------------------------------------------------
    def load(self) -> None:
        """Open every ``consumequeue/<topic>/<queueId>`` (non-numeric queue dirs are skipped)."""
        if not self.root.is_dir():
            return
        for topic_dir in sorted(self.root.iterdir()):
            if not topic_dir.is_dir():
                continue
            for queue_dir in sorted(topic_dir.iterdir()):
                if queue_dir.is_dir() and queue_dir.name.isdigit():
                    self.find_or_create(topic_dir.name, int(queue_dir.name)).load()

    def recover(self) -> int:
        """Recover every queue; returns the max commit-log end they reference (-1 if none)."""
        max_phy = -1
        for cq in self:
            cq.recover()
            max_phy = max(max_phy, cq.max_physic_offset)
        return max_phy

    @property
    def max_physic_offset(self) -> int:
        """Max over all queues of the end of the last dispatched record (-1 if none)."""
        return max((cq.max_physic_offset for cq in self), default=-1)

    def truncate_dirty(self, phy_offset: int) -> None:
        """Drop every unit referencing a record at/after ``phy_offset``."""
        for cq in self:
            cq.truncate_dirty_logic_files(phy_offset)

    def correct_min_offsets(self, phy_min_offset: int) -> None:
        """Correct every queue's min offset after commit-log files were deleted."""
        for cq in self:
            cq.correct_min_offset(phy_min_offset)

    def destroy_all(self) -> None:
        """Delete every queue's files (the commit log is empty)."""
        for cq in self:
            cq.destroy()
        self.table.clear()

    def remove_topic(self, topic: str) -> int:
        """Unmap and delete the consume queues of ``topic``; returns how many there were."""
        queues = self.table.pop(topic, None) or {}
        for cq in queues.values():
            cq.destroy()
        try:
            (self.root / topic).rmdir()
        except OSError:
            pass
        return len(queues)

    def queue_offset_table(self) -> dict[tuple[str, int], int]:
        """``(topic, queue_id) -> max offset`` for the commit log's queue-offset table."""
        return {(cq.topic, cq.queue_id): cq.max_offset_in_queue for cq in self if cq.queue.files}

    # ---- flush --------------------------------------------------------------------------------
    async def flush(self, least_pages: int) -> bool:
        """Flush every queue; the fsyncs of one round go to a single worker-thread call.

        With ``least_pages == 0`` rounds repeat until nothing is dirty (a queue may have filled one
        file and started the next since its last flush); bounded so that ongoing writes cannot keep
        one call looping.

        Returns:
            True when every unit written before the call is on disk (what lets the caller advance
            the checkpoint's logics timestamp).
        """
        ends = [(cq.queue, cq.queue.max_offset) for cq in self]
        for _round in range(1 if least_pages > 0 else 8):
            todo = [(cq.queue, step) for cq in self if (step := cq.queue.flush_step(least_pages)) is not None]
            if not todo:
                break

            def sync_all(todo: list[tuple[MappedFileQueue, tuple[MappedFile, int]]] = todo) -> None:
                for _queue, (mf, _target) in todo:
                    mf.sync()

            await asyncio.to_thread(sync_all)
            for queue, (mf, target) in todo:
                queue.publish_flushed(mf, target)
        return all(queue.flushed_where >= end or queue.flush_step(0) is None for queue, end in ends)

    def flush_sync(self) -> None:
        """Flush everything, blocking (shutdown)."""
        for cq in self:
            cq.queue.flush_sync()

    def close(self) -> None:
        """Unmap every queue."""
        for cq in self:
            cq.close()


class ConsumeQueueDispatcher:
    """Dispatcher writing CQ units for normal and committed records (not prepared/rollback)."""

    def __init__(self, queues: ConsumeQueueStore, checkpoint: StoreCheckpoint) -> None:
        self.queues = queues
        self.checkpoint = checkpoint

    def dispatch(self, request: DispatchRequest) -> None:
        """Append the unit for ``request`` (skipped when its transaction type is prepared/rollback)."""
        if request.sys_flag & 0x4:
            return
        self.queues.find_or_create(request.topic, request.queue_id).put_position(
            request.commit_log_offset, request.msg_size, request.tags_code, request.consume_queue_offset
        )
        self.checkpoint.logics_dispatched_timestamp = request.store_timestamp
