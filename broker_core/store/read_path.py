"""The read path (``DefaultMessageStore.getMessage``, storage spec §2.8) as a pure function of the parts.

Status rules, in order: queue max offset 0 -> NO_MESSAGE_IN_QUEUE (next 0); offset < min ->
OFFSET_TOO_SMALL (next min); offset == max -> OFFSET_OVERFLOW_ONE (next offset); offset > max ->
OFFSET_OVERFLOW_BADLY (next min if min is 0 else max); unit not readable -> OFFSET_FOUND_NULL (next =
first offset of the next CQ file); otherwise scan units and return FOUND / NO_MATCHED_MESSAGE /
MESSAGE_WAS_REMOVING with next = offset + units scanned.

Batch limits: the first record is always taken; then stop at ``max_msg_nums``, or at the byte/count
limits, which are tighter when the record is "in disk" (further behind the write position than
``accessMessageInMemoryMaxRatio`` % of RAM, so likely not in the page cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from mmap import mmap

from broker_core.config.store import CQ_STORE_UNIT_SIZE, StoreConfig
from broker_core.store.commit_log import CommitLog
from broker_core.store.consume_queue import ConsumeQueue
from broker_core.store.results import GetMessageStatus, GetResult

__all__ = ["ReadLimits", "read_messages"]


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """Transfer limits of one read (from StoreConfig) and the in-memory threshold in bytes."""

    bytes_in_memory: int
    count_in_memory: int
    bytes_in_disk: int
    count_in_disk: int
    memory_bytes: int

    @classmethod
    def from_config(cls, config: StoreConfig, total_ram: int) -> ReadLimits:
        """Limits for ``config`` on a host with ``total_ram`` bytes."""
        return cls(
            config.max_transfer_bytes_on_message_in_memory,
            config.max_transfer_count_on_message_in_memory,
            config.max_transfer_bytes_on_message_in_disk,
            config.max_transfer_count_on_message_in_disk,
            total_ram * config.access_message_in_memory_max_ratio // 100,
        )


def read_messages(
    cq: ConsumeQueue,
    commit_log: CommitLog,
    offset: int,
    max_msg_nums: int,
    limits: ReadLimits,
    message_filter: Callable[[int], bool] | None = None,
    commit_log_filter: Callable[[bytes], bool] | None = None,
    max_total_bytes: int | None = None,
    *,
    views: bool = False,
) -> GetResult:
    """Read records of ``cq`` from queue offset ``offset``; see module docstring.

    With ``views`` the records are memoryview slices of the mapped segments (no copy): for a reader
    that writes them out at once (the pull response); they keep the mapping alive while referenced.
    Otherwise they are copies, safe to keep.
    """
    min_offset = cq.min_offset_in_queue
    max_offset = cq.max_offset_in_queue
    status: GetMessageStatus
    if max_offset == 0:
        return GetResult(GetMessageStatus.NO_MESSAGE_IN_QUEUE, 0, min_offset, max_offset)
    if offset < min_offset:
        return GetResult(GetMessageStatus.OFFSET_TOO_SMALL, min_offset, min_offset, max_offset)
    if offset == max_offset:
        return GetResult(GetMessageStatus.OFFSET_OVERFLOW_ONE, offset, min_offset, max_offset)
    if offset > max_offset:
        nxt = min_offset if min_offset == 0 else max_offset
        return GetResult(GetMessageStatus.OFFSET_OVERFLOW_BADLY, nxt, min_offset, max_offset)
    max_scan = max(16000 // CQ_STORE_UNIT_SIZE, max_msg_nums)
    units = cq.iter_units(offset, max_scan)
    if units is None:
        return GetResult(
            GetMessageStatus.OFFSET_FOUND_NULL, cq.next_file_offset(offset), min_offset, max_offset
        )

    status = GetMessageStatus.NO_MATCHED_MESSAGE
    buffers: list[bytes | memoryview] = []
    queue_offsets: list[int] = []
    total = 0
    max_phy = commit_log.max_offset
    next_phy_file_start = -1
    last_phy = 0
    scanned = 0
    segments = commit_log.queue
    roll_size = segments.file_size
    # the segment of the previous record: [seg_start, seg_end) readable through `seg` (usually all
    # records of one pull live in one segment, so one lookup serves the batch)
    seg_start = seg_end = 0
    seg: mmap | memoryview | None = None
    count = 0
    memory_bytes = limits.memory_bytes
    for phy, size, tags_code in units:
        last_phy = phy
        if next_phy_file_start >= 0 and phy < next_phy_file_start:
            scanned += 1
            continue
        if count:  # the first record is always accepted
            if count >= max_msg_nums:
                break
            if max_phy - phy > memory_bytes:  # "in disk": tighter limits
                if total + size > limits.bytes_in_disk or count >= limits.count_in_disk:
                    break
            elif total + size > limits.bytes_in_memory or count >= limits.count_in_memory:
                break
            if max_total_bytes is not None and total + size > max_total_bytes:
                break
        scanned += 1
        if message_filter is not None and not message_filter(tags_code):
            continue
        if phy < seg_start or phy + size > seg_end or seg is None:
            mf = segments.locate(phy)
            if mf is None or size < 0 or phy - mf.file_from_offset + size > mf.wrote_position:
                if not buffers:
                    status = GetMessageStatus.MESSAGE_WAS_REMOVING
                next_phy_file_start = phy + roll_size - phy % roll_size
                continue
            seg_start = mf.file_from_offset
            seg_end = seg_start + mf.wrote_position
            seg = memoryview(mf.mm) if views else mf.mm
        pos = phy - seg_start
        data = seg[pos : pos + size]
        if commit_log_filter is not None and not commit_log_filter(
            data if type(data) is bytes else bytes(data)
        ):
            continue
        buffers.append(data)
        queue_offsets.append(offset + scanned - 1)
        count += 1
        total += size
        status = GetMessageStatus.FOUND
        next_phy_file_start = -1
    return GetResult(
        status,
        offset + scanned,
        min_offset,
        max_offset,
        buffers,
        queue_offsets,
        total,
        max_phy - last_phy > memory_bytes,
    )
