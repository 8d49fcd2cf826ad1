"""One fixed-size, memory-mapped segment of a log (commit log, consume queue).

The file is named by its global start offset (20-digit zero-padded) and created at full size with
``ftruncate`` (sparse: instant, no zero-filling I/O). Writes are plain stores into the mapping, so
appending never makes a system call; the kernel page cache holds the data until a flush.

Positions (bytes from the file start), all owned by the event-loop thread:

* ``wrote_position`` — end of appended data; also the read limit (no transient buffer here).
* ``flushed_position`` — end of data known to be on disk.

Flushing uses ``os.fdatasync`` on the file descriptor rather than ``mmap.flush``: on Linux both write
back the shared mapping's dirty pages, but ``os.fdatasync`` releases the GIL, so it can run in a
worker thread (``asyncio.to_thread``) without stalling the loop. The caller reads the target position
on the loop thread, syncs in the thread, then publishes ``flushed_position`` on the loop thread.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from broker_core.errors import StoreError

__all__ = ["OS_PAGE_SIZE", "MappedFile", "segment_name"]

OS_PAGE_SIZE = 4096
_ZERO_CHUNK = 1 << 20
_ZEROS = bytes(_ZERO_CHUNK)


def segment_name(offset: int) -> str:
    """File name of the segment starting at ``offset``."""
    return f"{offset:020d}"


class MappedFile:
    """A preallocated, mapped segment; see the module docstring for the position rules."""

    __slots__ = ("_fd", "file_from_offset", "file_size", "flushed_position", "mm", "path", "wrote_position")

    def __init__(self, path: Path, file_from_offset: int, file_size: int, *, create: bool = True) -> None:
        self.path = path
        self.file_from_offset = file_from_offset
        self.file_size = file_size
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        try:
            self._fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open segment {path}: {exc}") from exc
        try:
            actual = os.fstat(self._fd).st_size
            if actual != file_size:
                if not create or actual != 0:
                    raise StoreError(f"segment {path} has size {actual}, expected {file_size}")
                os.ftruncate(self._fd, file_size)
            self.mm = mmap.mmap(self._fd, file_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self._fd)
            raise
        self.wrote_position = 0
        self.flushed_position = 0

    # ---- state -----------------------------------------------------------------------------------
    @property
    def is_full(self) -> bool:
        """No more room: the writer rolls to the next segment."""
        return self.wrote_position >= self.file_size

    @property
    def remaining(self) -> int:
        """Bytes left for appends."""
        return self.file_size - self.wrote_position

    @property
    def read_position(self) -> int:
        """Readers see bytes below this position."""
        return self.wrote_position

    def set_positions(self, position: int) -> None:
        """Set wrote and flushed positions (load/recovery/truncation)."""
        self.wrote_position = position
        self.flushed_position = position

    # ---- I/O ---------------------------------------------------------------------------------------
    def append(self, data: bytes) -> bool:
        """Append raw bytes; False if they do not fit."""
        pos = self.wrote_position
        end = pos + len(data)
        if end > self.file_size:
            return False
        self.mm[pos:end] = data
        self.wrote_position = end
        return True

    def read(self, pos: int, size: int) -> bytes | None:
        """Copy ``size`` bytes at ``pos`` if they are below the read position."""
        if pos < 0 or size < 0 or pos + size > self.wrote_position:
            return None
        return self.mm[pos : pos + size]

    def flush_target(self, least_pages: int) -> int | None:
        """Position a flush would publish, or None when the page rule says not yet (spec §1.2 rule 7)."""
        read_pos = self.wrote_position
        flushed = self.flushed_position
        if read_pos <= flushed:
            return None
        if self.is_full or least_pages <= 0:
            return read_pos
        if read_pos // OS_PAGE_SIZE - flushed // OS_PAGE_SIZE >= least_pages:
            return read_pos
        return None

    def sync(self) -> None:
        """Block until the file's dirty pages are on disk (run in a worker thread)."""
        os.fdatasync(self._fd)

    def fileno(self) -> int:
        """The segment's file descriptor (the group commit's sync helper syncs a copy of it)."""
        return self._fd

    def zero_from(self, pos: int) -> None:
        """Zero the bytes from ``pos`` to the end (truncation of a torn or dirty tail).

        Stale bytes past the write position could otherwise decode as valid old records during a later
        recovery. Only non-zero chunks are written, so a sparse file stays sparse.
        """
        mm = self.mm
        while pos < self.file_size:
            end = min(self.file_size, (pos // _ZERO_CHUNK + 1) * _ZERO_CHUNK)
            if mm[pos:end] != _ZEROS[: end - pos]:
                mm[pos:end] = _ZEROS[: end - pos]
            pos = end

    def close(self) -> None:
        """Unmap and close. A reader still holding a memoryview keeps the mapping alive until released."""
        try:
            self.mm.close()
        except BufferError:
            pass
        try:
            os.close(self._fd)
        except OSError:
            pass

    def destroy(self) -> None:
        """Close and delete the file."""
        self.close()
        self.path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"MappedFile({self.path.name}, wrote={self.wrote_position}, flushed={self.flushed_position})"
