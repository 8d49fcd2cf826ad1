"""One consume queue: the per-(topic, queue id) index of a queue's records in the commit log.

Files live in ``consumequeue/<topic>/<queueId>/`` and are named by the logical *byte* offset of their
first unit. Unit layout (20 bytes, big-endian):

| Offset | Field                      | Type |
|--------|----------------------------|------|
| 0      | commit-log offset          | i64  |
| 8      | record size (TOTALSIZE)    | i32  |
| 12     | tagsCode                   | i64  |

Queue offset *n* lives at byte ``n*20``. ``max_offset_in_queue`` = next offset to write; a filler unit
``(0, 2**31-1, 0)`` stands for a slot with no message (pre-filled when a queue starts mid-stream, and
— unlike Apache, which appends at the write position and logs "[BUG]" — for any gap, so that offset
*n* is always at byte ``n*20``). A unit is valid iff ``offset >= 0 and size > 0`` (recovery rule).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

from broker_core.config.store import CQ_STORE_UNIT_SIZE
from broker_core.logsetup import get_logger
from broker_core.store.segments import MappedFileQueue

__all__ = ["FILLER_SIZE", "UNIT", "ConsumeQueue", "Unit"]

log = get_logger(__name__)

UNIT = struct.Struct(">qiq")
assert UNIT.size == CQ_STORE_UNIT_SIZE
FILLER_SIZE = 0x7FFFFFFF
_FILLER = UNIT.pack(0, FILLER_SIZE, 0)

Unit = tuple[int, int, int]
"""(commit-log offset, size, tagsCode)."""


class ConsumeQueue:
    """Units of one (topic, queue id); see module docstring."""

    def __init__(self, topic: str, queue_id: int, root: Path, file_size: int) -> None:
        self.topic = topic
        self.queue_id = queue_id
        self.queue = MappedFileQueue(root / topic / str(queue_id), file_size)
        self.file_size = file_size
        self.max_physic_offset = -1  # end (offset + size) of the last unit's record
        self.min_logic_offset = 0  # bytes

    # ---- offsets ------------------------------------------------------------------------------
    @property
    def max_offset_in_queue(self) -> int:
        """The next queue offset to be written."""
        return self.queue.max_offset // CQ_STORE_UNIT_SIZE

    @property
    def min_offset_in_queue(self) -> int:
        """The smallest readable queue offset."""
        return self.min_logic_offset // CQ_STORE_UNIT_SIZE

    # ---- write --------------------------------------------------------------------------------
    def put_position(self, offset: int, size: int, tags_code: int, cq_offset: int) -> None:
        """Write the unit for queue offset ``cq_offset``; duplicates (already built) are skipped."""
        if offset + size <= self.max_physic_offset:
            return
        expect = cq_offset * CQ_STORE_UNIT_SIZE
        files = self.queue.files
        mf = files[-1] if files else None
        if (
            mf is not None
            and mf.wrote_position < mf.file_size
            and mf.file_from_offset + mf.wrote_position == expect
        ):
            # Fast path: the next slot of the current file.
            pos = mf.wrote_position
            UNIT.pack_into(mf.mm, pos, offset, size, tags_code)
            mf.wrote_position = pos + CQ_STORE_UNIT_SIZE
            self.max_physic_offset = offset + size
            return
        first_create = mf is None
        mf = self.queue.get_last_mapped_file(expect)
        assert mf is not None
        if first_create and cq_offset != 0 and mf.wrote_position == 0:
            # The queue starts mid-stream (files deleted, or slave): pre-fill the file's earlier slots.
            fill = expect - mf.file_from_offset
            mf.mm[0:fill] = _FILLER * (fill // CQ_STORE_UNIT_SIZE)
            mf.wrote_position = fill
            self.min_logic_offset = expect
            self.queue.flushed_where = mf.file_from_offset
        current = mf.file_from_offset + mf.wrote_position
        if expect < current:
            log.warning("consume queue unit already written", topic=self.topic, queue_id=self.queue_id,
                        expect=expect, current=current)  # fmt: skip
            return
        while current < expect:  # gap: keep offset n at byte n*20
            self._append(_FILLER)
            current += CQ_STORE_UNIT_SIZE
        self._append(UNIT.pack(offset, size, tags_code))
        self.max_physic_offset = offset + size

    def _append(self, unit: bytes) -> None:
        mf = self.queue.get_last_mapped_file(0)
        assert mf is not None
        mf.append(unit)

    # ---- read ---------------------------------------------------------------------------------
    def get_units(self, index: int, max_units: int) -> list[Unit] | None:
        """Units from queue offset ``index`` to the end of its file (at most ``max_units``).

        Returns None when the slot is not readable (deleted, or not written yet).
        """
        units = self.iter_units(index, max_units)
        return None if units is None else list(units)

    def iter_units(self, index: int, max_units: int) -> Iterator[Unit] | None:
        """:meth:`get_units`, decoded lazily: a reader that stops after a few units decodes only those.

        The units are read from a copy of their bytes taken now (one slice of the segment), so
        later writes do not show through.
        """
        byte = index * CQ_STORE_UNIT_SIZE
        if byte < self.min_logic_offset:
            return None
        mf = self.queue.locate(byte)
        if mf is None:
            return None
        pos = byte - mf.file_from_offset
        count = min((mf.wrote_position - pos) // CQ_STORE_UNIT_SIZE, max_units)
        if count <= 0:
            return None
        return cast(Iterator[Unit], UNIT.iter_unpack(mf.mm[pos : pos + count * CQ_STORE_UNIT_SIZE]))

    def get_unit(self, index: int) -> Unit | None:
        """The unit at queue offset ``index``."""
        units = self.get_units(index, 1)
        return units[0] if units else None

    def next_file_offset(self, index: int) -> int:
        """Queue offset of the first unit of the file after the one holding ``index``."""
        per_file = self.file_size // CQ_STORE_UNIT_SIZE
        return index + per_file - index % per_file

    def get_offset_in_queue_by_time(self, timestamp: int, store_time: Callable[[int, int], int]) -> int:
        """Queue offset whose record's store time is closest to ``timestamp`` (exact match preferred).

        ``store_time(offset, size)`` reads a record's store timestamp (-1 if gone). The file is the
        first whose last unit is not older than ``timestamp`` (Apache uses file mtimes for this; they
        are unreliable for mmap writes), else the last file. Then a binary search over its units.
        """
        files = self.queue.files
        if not files:
            return 0
        chosen = files[-1]
        for mf in files:
            last = mf.wrote_position - CQ_STORE_UNIT_SIZE
            if last >= 0:
                off, size, _ = UNIT.unpack_from(mf.mm, last)
                if size != FILLER_SIZE and store_time(off, size) >= timestamp:
                    chosen = mf
                    break
        low = max(0, self.min_logic_offset - chosen.file_from_offset) // CQ_STORE_UNIT_SIZE
        high = chosen.wrote_position // CQ_STORE_UNIT_SIZE - 1
        if high < low:
            return self.min_offset_in_queue
        left = right = -1
        left_ts = right_ts = -1
        while low <= high:
            mid = (low + high) // 2
            off, size, _ = UNIT.unpack_from(chosen.mm, mid * CQ_STORE_UNIT_SIZE)
            ts = store_time(off, size) if size != FILLER_SIZE else -1
            if ts < 0:  # gone or filler: treat as too small
                low = mid + 1
                continue
            if ts == timestamp:
                return (chosen.file_from_offset + mid * CQ_STORE_UNIT_SIZE) // CQ_STORE_UNIT_SIZE
            if ts > timestamp:
                right, right_ts = mid, ts
                high = mid - 1
            else:
                left, left_ts = mid, ts
                low = mid + 1
        if left < 0 and right < 0:
            return self.min_offset_in_queue
        if left < 0:
            pick = right
        elif right < 0:
            pick = left
        else:
            pick = right if timestamp - left_ts > right_ts - timestamp else left  # tie: left, as Apache
        return (chosen.file_from_offset + pick * CQ_STORE_UNIT_SIZE) // CQ_STORE_UNIT_SIZE

    # ---- recovery -----------------------------------------------------------------------------
    def load(self) -> None:
        """Open the files (positions at file size until :meth:`recover`)."""
        self.queue.load()
        self.min_logic_offset = self.queue.min_offset

    def recover(self) -> None:
        """Find the end of valid units and truncate past it.

        The scan starts at the third-to-last file, as Apache's does, or earlier while that file does
        not start with a valid unit: after a power loss, files created but never flushed read as
        zeros, and a tail of such files longer than two must not hide the hole before them.
        """
        files = self.queue.files
        if not files:
            return
        index = max(0, len(files) - 3)
        while index > 0 and UNIT.unpack_from(files[index].mm, 0)[1] <= 0:
            index -= 1
        mf = files[index]
        pos = 0
        while True:
            mm = mf.mm
            while pos < self.file_size:
                off, size, _ = UNIT.unpack_from(mm, pos)
                if off < 0 or size <= 0:
                    break
                pos += CQ_STORE_UNIT_SIZE
                if size != FILLER_SIZE:
                    self.max_physic_offset = off + size
            if pos == self.file_size and index + 1 < len(files):
                index += 1
                mf = files[index]
                pos = 0
                continue
            break
        end = mf.file_from_offset + pos
        self.queue.set_flushed_where(end)
        self.queue.truncate_dirty_files(end)

    def truncate_dirty_logic_files(self, phy_offset: int) -> None:
        """Drop units whose record starts at/after commit-log ``phy_offset`` (last files first)."""
        while (mf := self.queue.last_file()) is not None:
            pos = 0
            keep = 0
            while pos < mf.wrote_position:
                off, size, _ = UNIT.unpack_from(mf.mm, pos)
                if off < 0 or size <= 0 or (size != FILLER_SIZE and off >= phy_offset):
                    break
                pos += CQ_STORE_UNIT_SIZE
                keep = pos
            if keep == 0:  # the whole file is dirty (Apache deletes it even when it is the only one)
                self.queue.files.pop()
                mf.destroy()
                continue
            self.queue.truncate_dirty_files(mf.file_from_offset + keep)
            break
        self.max_physic_offset = -1
        last = self.queue.last_file()
        if last is not None:
            pos = last.wrote_position - CQ_STORE_UNIT_SIZE
            while pos >= 0:
                off, size, _ = UNIT.unpack_from(last.mm, pos)
                if size != FILLER_SIZE:
                    self.max_physic_offset = off + size
                    break
                pos -= CQ_STORE_UNIT_SIZE

    def correct_min_offset(self, phy_min_offset: int) -> None:
        """Move the min offset to the first unit whose record is still in the commit log.

        Apache scans only the first file (its cleanup deletes CQ files first); scanning on keeps this
        correct while CQ file deletion is not implemented.
        """
        for mf in self.queue.files:
            if mf.file_from_offset + mf.wrote_position <= self.min_logic_offset:
                continue
            start = max(0, self.min_logic_offset - mf.file_from_offset)
            for pos in range(start, mf.wrote_position, CQ_STORE_UNIT_SIZE):
                off, size, _ = UNIT.unpack_from(mf.mm, pos)
                if size != FILLER_SIZE and off >= phy_min_offset:
                    self.min_logic_offset = mf.file_from_offset + pos
                    return
        self.min_logic_offset = max(self.min_logic_offset, self.queue.max_offset)

    # ---- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Unmap the files."""
        self.queue.close()

    def destroy(self) -> None:
        """Delete the files."""
        self.queue.destroy()
        self.max_physic_offset = -1
        self.min_logic_offset = 0
