"""The checkpoint file, the ``abort`` marker and the ``lock`` file (storage spec §1.7, §1.8).

Checkpoint layout (4096 bytes, rest zero):

| Offset | Field                | Type | Meaning                                           |
|--------|----------------------|------|---------------------------------------------------|
| 0      | physicMsgTimestamp   | i64  | store time of the last commit-log data flushed    |
| 8      | logicsMsgTimestamp   | i64  | store time of the last record put into a CQ       |
| 16     | indexMsgTimestamp    | i64  | end time of the last full and flushed index file  |

Apache maps this file and forces it; we write the whole page to ``checkpoint.tmp``, fsync, and rename
over ``checkpoint``, so a crash leaves either the old or the new page, never a torn one.

Invariant: every timestamp written to the file is one whose data is already on disk. Abnormal recovery
trusts it to skip re-dispatching older commit-log segments, so a timestamp ahead of the flushed data
loses consume-queue units on power loss. The consume-queue dispatcher therefore records its progress in
``logics_dispatched_timestamp`` (memory only), and only a complete consume-queue flush promotes the
value it captured before flushing to ``logics_msg_timestamp``; the commit-log flushers set
``physic_msg_timestamp`` only once the flushed position covers the record of that time.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import threading
from pathlib import Path

from broker_core.errors import StoreLockedError

__all__ = ["CHECKPOINT_SIZE", "StoreCheckpoint", "StoreLock", "create_abort_file", "remove_abort_file"]

CHECKPOINT_SIZE = 4096
_FIELDS = struct.Struct(">qqq")


class StoreCheckpoint:
    """In-memory checkpoint timestamps plus atomic persistence."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.physic_msg_timestamp = 0
        self.logics_msg_timestamp = 0
        self.index_msg_timestamp = 0
        #: store time of the last unit written to a consume queue, flushed or not (never persisted)
        self.logics_dispatched_timestamp = 0
        self._write_lock = threading.Lock()  # saves run in worker threads and share checkpoint.tmp

    def load(self) -> None:
        """Read the timestamps if the file exists (a missing file means a fresh store)."""
        if self.path.exists():
            data = self.path.read_bytes()
            if len(data) >= _FIELDS.size:
                self.physic_msg_timestamp, self.logics_msg_timestamp, self.index_msg_timestamp = (
                    _FIELDS.unpack_from(data)
                )
                self.logics_dispatched_timestamp = self.logics_msg_timestamp

    @property
    def min_timestamp(self) -> int:
        """Earliest store time known to be fully persisted, minus 3 s of slack."""
        return max(0, min(self.physic_msg_timestamp, self.logics_msg_timestamp) - 3000)

    @property
    def min_timestamp_index(self) -> int:
        """:attr:`min_timestamp`, also bounded by the index timestamp (messageIndexSafe)."""
        return min(self.min_timestamp, self.index_msg_timestamp)

    def encode(self) -> bytes:
        """The 4096-byte file content."""
        head = _FIELDS.pack(self.physic_msg_timestamp, self.logics_msg_timestamp, self.index_msg_timestamp)
        return head + bytes(CHECKPOINT_SIZE - len(head))

    def save_sync(self) -> None:
        """Persist atomically (tmp + fsync + rename), blocking."""
        self._write_snapshot(self.encode())

    async def save(self) -> None:
        """Persist in a worker thread (fields are captured on the loop thread first)."""
        await asyncio.to_thread(self._write_snapshot, self.encode())

    def _write_snapshot(self, data: bytes) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with self._write_lock:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)


class StoreLock:
    """Exclusive POSIX record lock on byte [0, 1) of ``<root>/lock`` (what Java's tryLock takes).

    POSIX locks do not conflict within one process, so paths locked by this process are also tracked
    to refuse a second store on the same directory.
    """

    _held: set[Path] = set()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            StoreLockedError: another store (any process) holds it.
        """
        key = self.path.resolve()
        if key in StoreLock._held:
            raise StoreLockedError(f"Lock failed, MQ already started: {self.path}")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
        except OSError as exc:
            os.close(fd)
            raise StoreLockedError(f"Lock failed, MQ already started: {self.path}") from exc
        os.pwrite(fd, b"lock", 0)
        os.fsync(fd)
        self._fd = fd
        StoreLock._held.add(key)

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, 0)
        finally:
            os.close(self._fd)
            self._fd = None
            StoreLock._held.discard(self.path.resolve())


def create_abort_file(path: Path) -> None:
    """Create the (empty) ``abort`` marker: its presence at start-up means the last exit was abnormal."""
    path.touch()


def remove_abort_file(path: Path) -> None:
    """Remove the ``abort`` marker on a clean shutdown."""
    path.unlink(missing_ok=True)
