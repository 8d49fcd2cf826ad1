"""An ordered run of equal-size segments forming one logical log (``MappedFileQueue``).

Segment *i+1* starts exactly ``file_size`` bytes after segment *i*; names are 20-digit start offsets.
Global offsets map to (segment, position) by division, so ``locate`` is O(1).

Rules (storage spec §1.2): on load every file must have the configured size and gets all positions set
to the file size (recovery corrects the tail); max offset = last start + last write position; min
offset = first start; truncation destroys segments wholly past the offset and rewinds the one holding it.

One exception to the size rule: empty (0-byte) files at the end of the run are the residue of segments
created just before a power loss, whose ``ftruncate`` never reached the disk. Nothing in them was ever
durable (an ``fdatasync`` of the file would have persisted its size too), so they are deleted with a
warning and recovery goes on; Apache's loader refuses to start instead. An empty file followed by a
full one is corruption and still stops the load.

All methods run on the event-loop thread except :meth:`MappedFile.sync`, which ``flush`` hands to a
worker thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from broker_core.errors import StoreError
from broker_core.logsetup import get_logger
from broker_core.store.mapped_file import MappedFile, segment_name

__all__ = ["MappedFileQueue"]

log = get_logger(__name__)


class MappedFileQueue:
    """Segments of one directory; see module docstring."""

    def __init__(self, directory: Path, file_size: int) -> None:
        self.directory = directory
        self.file_size = file_size
        self.files: list[MappedFile] = []
        self.flushed_where = 0

    # ---- lifecycle ----------------------------------------------------------------------------
    def load(self) -> None:
        """Open the existing segments (sorted by name); every one must have the configured size.

        Raises:
            StoreError: a file has the wrong size or a non-numeric name.
        """
        if not self.directory.is_dir():
            return
        names = sorted(p.name for p in self.directory.iterdir() if p.is_file() and not p.name.startswith("."))
        while names and names[-1].isdigit() and (self.directory / names[-1]).stat().st_size == 0:
            empty = self.directory / names.pop()
            log.warning("deleting an empty trailing segment (created just before a crash)", path=str(empty))
            empty.unlink()
        for name in names:
            if not name.isdigit():
                raise StoreError(f"unexpected file {self.directory / name}")
            mf = MappedFile(self.directory / name, int(name), self.file_size, create=False)
            mf.set_positions(self.file_size)
            self.files.append(mf)

    def close(self) -> None:
        """Unmap every segment."""
        for mf in self.files:
            mf.close()

    def destroy(self) -> None:
        """Delete every segment (and the directory if it becomes empty)."""
        for mf in self.files:
            mf.destroy()
        self.files.clear()
        self.flushed_where = 0
        try:
            self.directory.rmdir()
        except OSError:
            pass

    # ---- lookup -------------------------------------------------------------------------------
    @property
    def min_offset(self) -> int:
        """Start of the first segment (0 when empty)."""
        return self.files[0].file_from_offset if self.files else 0

    @property
    def max_offset(self) -> int:
        """End of readable data (0 when empty)."""
        if not self.files:
            return 0
        last = self.files[-1]
        return last.file_from_offset + last.wrote_position

    def last_file(self) -> MappedFile | None:
        """The segment being written, if any."""
        return self.files[-1] if self.files else None

    def first_file(self) -> MappedFile | None:
        """The oldest segment, if any."""
        return self.files[0] if self.files else None

    def locate(self, offset: int) -> MappedFile | None:
        """The segment that holds global ``offset``, or None if outside every segment."""
        files = self.files
        if not files:
            return None
        index = offset // self.file_size - files[0].file_from_offset // self.file_size
        if 0 <= index < len(files):
            mf = files[index]
            if mf.file_from_offset <= offset < mf.file_from_offset + self.file_size:
                return mf
        for mf in files:  # a gap in the file names: fall back to a scan
            if mf.file_from_offset <= offset < mf.file_from_offset + self.file_size:
                return mf
        return None

    def roll_next_file(self, offset: int) -> int:
        """Start of the segment after the one holding ``offset``."""
        return offset + self.file_size - offset % self.file_size

    def get_last_mapped_file(self, start_offset: int = 0, create: bool = True) -> MappedFile | None:
        """The segment to append to: the last one unless full; creates one when needed and allowed."""
        last = self.files[-1] if self.files else None
        if last is not None and not last.is_full:
            return last
        if not create:
            return last
        if last is None:
            create_offset = start_offset - start_offset % self.file_size
        else:
            create_offset = last.file_from_offset + self.file_size
        return self.create_file(create_offset)

    def create_file(self, offset: int) -> MappedFile:
        """Create (preallocate and map) the segment starting at ``offset``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        mf = MappedFile(self.directory / segment_name(offset), offset, self.file_size, create=True)
        if not self.files:
            self.flushed_where = offset
        self.files.append(mf)
        return mf

    # ---- truncation ---------------------------------------------------------------------------
    def truncate_dirty_files(self, offset: int) -> None:
        """Drop everything at/after ``offset``: later segments are deleted, the holder is rewound."""
        keep: list[MappedFile] = []
        for mf in self.files:
            file_tail = mf.file_from_offset + self.file_size
            if file_tail <= offset:
                keep.append(mf)
            elif mf.file_from_offset <= offset:
                pos = offset % self.file_size
                mf.set_positions(pos)
                mf.zero_from(pos)
                keep.append(mf)
            else:
                mf.destroy()
        self.files = keep
        self.flushed_where = min(self.flushed_where, offset) if self.files else 0

    def set_flushed_where(self, offset: int) -> None:
        """Record ``offset`` as flushed (after recovery)."""
        self.flushed_where = offset

    # ---- flush --------------------------------------------------------------------------------
    def flush_step(self, least_pages: int) -> tuple[MappedFile, int] | None:
        """The segment to sync next and the position a sync would publish (None: nothing due)."""
        mf = self.locate(self.flushed_where)
        if mf is None:
            mf = self.files[0] if self.files and self.flushed_where < self.min_offset else None
            if mf is None:
                return None
        target = mf.flush_target(least_pages)
        if target is None:
            return None
        return mf, target

    def publish_flushed(self, mf: MappedFile, target: int) -> None:
        """Record that ``mf`` is on disk up to ``target`` (after its sync returned)."""
        mf.flushed_position = max(mf.flushed_position, target)
        self.flushed_where = max(self.flushed_where, mf.file_from_offset + target)

    async def flush(self, least_pages: int) -> bool:
        """Flush from ``flushed_where``; returns True when something was flushed.

        With ``least_pages == 0`` it keeps going across full segments until everything written
        before the call is on disk (a record can end in the segment after ``flushed_where``).
        """
        end = self.max_offset
        progressed = False
        while True:
            step = self.flush_step(least_pages)
            if step is None:
                return progressed
            mf, target = step
            await asyncio.to_thread(mf.sync)
            self.publish_flushed(mf, target)
            progressed = True
            if least_pages > 0 or self.flushed_where >= end:
                return progressed

    def flush_sync(self) -> None:
        """Flush everything now, blocking (shutdown path)."""
        while (step := self.flush_step(0)) is not None:
            mf, target = step
            mf.sync()
            self.publish_flushed(mf, target)

    def __len__(self) -> int:
        return len(self.files)
