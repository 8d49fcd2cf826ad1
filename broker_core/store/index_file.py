"""One index file: a fixed-size hash table from ``topic#key`` to commit-log offsets (storage spec §1.5).

Byte layout (big-endian), identical to Apache 4.9 ``IndexFile``:

==========================  ======  ==========================================================
offset                      type    field
==========================  ======  ==========================================================
0                           i64     beginTimestamp (store time of the first indexed message)
8                           i64     endTimestamp (store time of the last indexed message)
16                          i64     beginPhyOffset
24                          i64     endPhyOffset
32                          i32     hashSlotCount (slots that became non-empty)
36                          i32     indexCount (next free entry number; starts at 1)
40                          i32[S]  slot table: newest entry number per slot (0 = empty)
40 + 4*S + 20*k             20 B    entry k: keyHash i32, phyOffset i64, timeDiff i32 (seconds since
                                    beginTimestamp), prevIndex i32 (older entry in the same slot)
==========================  ======  ==========================================================

The file lives in the page cache via a shared mapping: a killed process loses nothing, and the file is
only synced when it fills (as Apache does) or at shutdown. Queries compare hashes only, never the key
text — callers re-check the key on the records they read.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

from broker_core.errors import StoreError
from broker_core.message.properties import java_string_hash

__all__ = ["HEADER_SIZE", "INDEX_ENTRY_SIZE", "IndexFile", "index_file_size", "java_string_hash", "key_hash"]

HEADER_SIZE = 40
HASH_SLOT_SIZE = 4
INDEX_ENTRY_SIZE = 20
_HEADER = struct.Struct(">qqqqii")
_ENTRY = struct.Struct(">iqii")
_I32 = struct.Struct(">i")
_INT_MAX = 0x7FFFFFFF


def index_file_size(slots: int, max_index: int) -> int:
    """Bytes of an index file with ``slots`` hash slots and ``max_index`` entries."""
    return HEADER_SIZE + slots * HASH_SLOT_SIZE + max_index * INDEX_ENTRY_SIZE


def key_hash(key: str) -> int:
    """``abs(hashCode)``; Integer.MIN_VALUE (whose abs is still negative) maps to 0."""
    h = abs(java_string_hash(key))
    return 0 if h > _INT_MAX else h


class IndexFile:
    """A mapped index file; ``create=True`` makes a new one pre-set from the previous file's end.

    ``readonly=True`` maps an existing file for reading only (dump tool, golden-file tests).
    """

    def __init__(
        self,
        path: Path,
        slots: int,
        max_index: int,
        *,
        create: bool = False,
        end_phy_offset: int = 0,
        end_timestamp: int = 0,
        readonly: bool = False,
    ) -> None:
        self.path = path
        self.slots = slots
        self.max_index = max_index
        self.size = index_file_size(slots, max_index)
        self._entries_at = HEADER_SIZE + slots * HASH_SLOT_SIZE  # entry 0's position
        mode = os.O_RDONLY if readonly else os.O_RDWR | (os.O_CREAT if create else 0)
        fd = os.open(path, mode, 0o644)
        try:
            actual = os.fstat(fd).st_size
            if create and actual == 0:
                os.ftruncate(fd, self.size)
            elif actual != self.size:
                raise StoreError(f"index file {path} has size {actual}, expected {self.size}")
            prot = mmap.PROT_READ if readonly else mmap.PROT_READ | mmap.PROT_WRITE
            self.mm = mmap.mmap(fd, self.size, mmap.MAP_SHARED, prot)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        if create and actual == 0:
            self.begin_timestamp = self.end_timestamp = end_timestamp
            self.begin_phy_offset = self.end_phy_offset = end_phy_offset
            self.hash_slot_count = 0
            self.index_count = 1
            self._write_header()
        else:
            (
                self.begin_timestamp, self.end_timestamp, self.begin_phy_offset, self.end_phy_offset,
                self.hash_slot_count, self.index_count,
            ) = _HEADER.unpack_from(self.mm, 0)  # fmt: skip
            self.index_count = max(1, self.index_count)

    def _write_header(self) -> None:
        _HEADER.pack_into(
            self.mm, 0, self.begin_timestamp, self.end_timestamp, self.begin_phy_offset,
            self.end_phy_offset, self.hash_slot_count, self.index_count,
        )  # fmt: skip

    @property
    def is_full(self) -> bool:
        """No room for another entry."""
        return self.index_count >= self.max_index

    @property
    def entry_count(self) -> int:
        """Entries written (entry 0 is never used)."""
        return self.index_count - 1

    def put_key(self, key: str, phy_offset: int, store_timestamp: int) -> bool:
        """Insert one key (storage spec §1.5 "Insert"); False when the file is full.

        Runs once per indexed key of every record, so attributes are read into locals once and the
        header is packed in one call (Apache also rewrites its header fields per insert).
        """
        count = self.index_count
        if count >= self.max_index:
            return False
        h = key_hash(key)
        mm = self.mm
        slot_pos = HEADER_SIZE + (h % self.slots) * HASH_SLOT_SIZE
        (slot_value,) = _I32.unpack_from(mm, slot_pos)
        if slot_value <= 0 or slot_value > count:
            slot_value = 0
        begin_ts = self.begin_timestamp
        if begin_ts <= 0:
            time_diff = 0
        else:
            time_diff = (store_timestamp - begin_ts) // 1000
            if time_diff < 0:
                time_diff = 0
            elif time_diff > _INT_MAX:
                time_diff = _INT_MAX
        _ENTRY.pack_into(
            mm, self._entries_at + count * INDEX_ENTRY_SIZE, h, phy_offset, time_diff, slot_value
        )
        _I32.pack_into(mm, slot_pos, count)
        if count <= 1:
            self.begin_phy_offset = phy_offset
            self.begin_timestamp = begin_ts = store_timestamp
        if slot_value == 0:
            self.hash_slot_count += 1
        self.index_count = count + 1
        self.end_phy_offset = phy_offset
        self.end_timestamp = store_timestamp
        _HEADER.pack_into(
            mm, 0, begin_ts, store_timestamp, self.begin_phy_offset, phy_offset, self.hash_slot_count,
            count + 1,
        )  # fmt: skip
        return True

    def overlaps(self, begin: int, end: int) -> bool:
        """The file's time span intersects [begin, end]."""
        return self.begin_timestamp <= end and begin <= self.end_timestamp

    def select_phy_offsets(self, key: str, max_num: int, begin: int, end: int) -> list[int]:
        """Commit-log offsets of entries whose hash matches ``key`` and time lies in [begin, end]."""
        out: list[int] = []
        h = key_hash(key)
        (current,) = _I32.unpack_from(self.mm, HEADER_SIZE + (h % self.slots) * HASH_SLOT_SIZE)
        if current <= 0 or current > self.index_count:
            return out
        base = HEADER_SIZE + self.slots * HASH_SLOT_SIZE
        seen = 0
        while len(out) < max_num and 0 < current < self.index_count and seen < self.max_index:
            seen += 1
            k_hash, phy, time_diff, prev = _ENTRY.unpack_from(self.mm, base + current * INDEX_ENTRY_SIZE)
            ts = self.begin_timestamp + time_diff * 1000
            if k_hash == h and begin <= ts <= end:
                out.append(phy)
            if ts < begin or prev <= 0 or prev > self.index_count or prev == current:
                break
            current = prev
        return out

    def entries(self) -> list[tuple[int, int, int, int]]:
        """All entries (keyHash, phyOffset, timeDiff, prev) in number order, for dump tools and tests."""
        base = HEADER_SIZE + self.slots * HASH_SLOT_SIZE
        return [_ENTRY.unpack_from(self.mm, base + k * INDEX_ENTRY_SIZE) for k in range(1, self.index_count)]

    def sync(self) -> None:
        """Force the file to disk (worker thread or shutdown).

        ``os.fdatasync`` rather than ``mmap.flush``: both write back the shared mapping's dirty pages
        on Linux (see :mod:`broker_core.store.mapped_file`), but ``mmap.flush`` keeps the GIL for the
        whole ``msync``, so syncing a full index file (hundreds of MB) from the worker thread would
        stop the broker's loop until the disk is done.
        """
        os.fdatasync(self._fd)

    def close(self) -> None:
        """Unmap and close."""
        try:
            self.mm.close()
        except BufferError:
            pass
        try:
            os.close(self._fd)
        except OSError:
            pass

    def destroy(self) -> None:
        """Close and delete."""
        self.close()
        self.path.unlink(missing_ok=True)
