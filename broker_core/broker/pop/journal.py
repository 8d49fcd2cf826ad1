"""Write-ahead journal of POP lease changes, between two snapshots of ``popLeases.json``.

Why: the lease table is snapshotted ``popCkPersistDelayMs`` (50 ms) after a change. A broker
killed inside that window would forget acks it had already answered, and the acked messages would
be revived and delivered again (a Celery ``acks_late`` task run twice although its ack succeeded).
Apache 5.x avoids this by writing pop checkpoints and acks into the commit log; here every change
is appended to ``config/popLeases.journal`` before the answer goes out, and the journal is emptied
each time a snapshot is written.

The file is a fixed-size shared memory map (as RocketMQ's mapped files), so an append is a copy
into the page cache, no system call: it survives a crash of the broker process (a power cut is
covered only as far as the snapshot's fsync). The journal ends at the first NUL byte; emptying it
zeroes what was used. A full journal makes the service write a snapshot at once (which empties it).

One change per line, fields separated by one space, queue key ``group@topic@qid``:

=====  ==========================================================================
``P``  ``P <key> <prevNext> <newNext> <popTime> <invisibleMs> <off>,<off>,...``  (a pop)
``A``  ``A <key> <offset> <popTime>``                                             (an ack)
``C``  ``C <key> <offset> <popTime> <newPopTime> <invisibleMs>``                  (change)
=====  ==========================================================================

Replay applies the lines in order on top of the snapshot. It is idempotent for a journal whose
changes the snapshot already holds (a crash between writing the snapshot and emptying the
journal): a pop re-adds its leases and the later ack removes them again; a lease revived before
the crash comes back and is revived again, which re-delivers an *un-acked* message only.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from pathlib import Path

from broker_core.broker.pop.leases import Key, LeaseError, LeaseTable
from broker_core.logsetup import get_logger

log = get_logger(__name__)


def _key_text(key: Key) -> str:
    return f"{key[0]}@{key[1]}@{key[2]}"


def _parse_key(text: str) -> Key:
    group, topic, qid = text.rsplit("@", 2)
    return (group, topic, int(qid))


def pop_line(
    key: Key, prev_next: int, new_next: int, pop_time: int, invisible_ms: int, offsets: Iterable[int]
) -> str:
    offs = ",".join(map(str, offsets)) or "-"
    return f"P {_key_text(key)} {prev_next} {new_next} {pop_time} {invisible_ms} {offs}\n"


def ack_line(key: Key, offset: int, pop_time: int) -> str:
    return f"A {_key_text(key)} {offset} {pop_time}\n"


def change_line(key: Key, offset: int, pop_time: int, new_pop_time: int, invisible_ms: int) -> str:
    return f"C {_key_text(key)} {offset} {pop_time} {new_pop_time} {invisible_ms}\n"


def apply_line(table: LeaseTable, line: str) -> None:
    """Apply one journal line to ``table``; raises ``ValueError`` on a malformed line."""
    kind, key_text, *rest = line.split(" ")
    key = _parse_key(key_text)
    nums = [int(x) for x in rest[:-1]] if kind == "P" else [int(x) for x in rest]
    if kind == "P" and len(nums) == 4:
        prev_next, new_next, pop_time, invisible = nums
        q = table.ensure(key, prev_next)
        if rest[-1] != "-":
            for off in rest[-1].split(","):
                table.lease(key, int(off), pop_time, invisible)
        q.next_offset = max(q.next_offset, new_next)
    elif kind == "A" and len(nums) == 2:
        try:
            table.ack(key, nums[0], nums[1])
        except LeaseError:
            pass  # already acked (or revived) in the snapshot
    elif kind == "C" and len(nums) == 4:
        try:
            table.change(key, nums[0], nums[1], nums[2], nums[3])
        except LeaseError:
            pass
    else:
        raise ValueError(f"unknown POP journal line {line!r}")


#: bytes of the mapped journal file (sparse; about 100,000 changes between two snapshots)
CAPACITY = 8 * 1024 * 1024


class LeaseJournal:
    """The journal file (see the module docstring): :meth:`replay` once at start, then
    :meth:`append` per change and :meth:`reset` after each snapshot."""

    def __init__(self, path: Path, capacity: int = CAPACITY) -> None:
        self.path = path
        self.capacity = capacity
        self._mm: mmap.mmap | None = None
        #: where the next change is written; None until known (replay, or the first append)
        self._pos: int | None = None
        self._failed = False

    def replay(self, table: LeaseTable) -> int:
        """Apply the journal left by the previous run; returns the number of changes applied.

        Only whole lines count (each :meth:`append` copies one line with its newline): a torn or
        unreadable line ends the replay, and the next append overwrites it.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self._pos = 0
            return 0
        end = data.find(b"\0")
        data = data if end < 0 else data[:end]
        applied = 0
        good_end = 0
        for raw in data.split(b"\n")[:-1]:  # the part after the last newline is a torn write
            if raw:
                try:
                    apply_line(table, raw.decode("utf-8"))
                except (ValueError, IndexError) as exc:  # what follows cannot be trusted
                    log.warning(
                        "POP journal line unreadable, replay stops there", line=raw[:200], error=str(exc)
                    )
                    break
                applied += 1
            good_end += len(raw) + 1
        if good_end < len(data):
            log.warning(
                "POP journal: a torn or unreadable tail is dropped", dropped_bytes=len(data) - good_end
            )
        self._pos = good_end
        return applied

    def _open(self) -> mmap.mmap:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != self.capacity:
                os.ftruncate(fd, self.capacity)
            mm = mmap.mmap(fd, self.capacity)
        finally:
            os.close(fd)
        end = mm.find(b"\0")
        end = self.capacity if end < 0 else end
        if self._pos is None:  # no replay: keep the whole lines already there
            self._pos = mm.rfind(b"\n", 0, end) + 1
        if end > self._pos:  # a dropped tail: zero it, the journal ends at the first NUL
            mm[self._pos : end] = bytes(end - self._pos)
        return mm

    def append(self, line: str) -> bool:
        """Copy one change (a line with its newline) into the journal; False when it is full (the
        caller writes a snapshot, which empties it). A journal that cannot be opened is logged
        once and then skipped (True): the changes are in memory and the snapshot records them."""
        mm = self._mm
        if mm is None:
            if self._failed:
                return True
            try:
                mm = self._mm = self._open()
            except OSError as exc:
                self._failed = True
                log.error("POP journal unavailable; acks rely on the lease snapshot", error=str(exc))
                return True
        data = line.encode("utf-8")
        pos = self._pos or 0
        end = pos + len(data)
        if end >= self.capacity:  # keep one NUL at the end
            return False
        mm[pos:end] = data
        self._pos = end
        return True

    def reset(self) -> None:
        """The snapshot now holds every change: zero the used part (its first byte first)."""
        if self._mm is not None:
            if self._pos:
                self._mm[0 : self._pos] = bytes(self._pos)
        elif not self._failed and self.path.exists():  # nothing appended yet in this run
            with open(self.path, "r+b") as fh:
                fh.truncate(0)
        self._pos = 0

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
