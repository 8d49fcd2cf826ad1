"""Write-ahead journal of POP lease changes, between two snapshots of ``popLeases.json``.

Why: the lease table is snapshotted ``popCkPersistDelayMs`` (50 ms) after a change. A broker
killed inside that window (or while the snapshot is written) would forget acks it had already
answered, and the acked messages would be revived and delivered again (a Celery ``acks_late`` task
run twice although its ack succeeded). Apache 5.x avoids this by writing pop checkpoints and acks
into the commit log; here every change is appended to the journal before the answer goes out.

The journal is two files, ``config/popLeases.journal`` and ``popLeases.journal.1``, each a shared
memory map (as RocketMQ's mapped files): an append is a copy into the page cache, no system call,
and survives a crash of the broker process (a power cut is covered only as far as the snapshot's
fsync). A file's content ends at its first NUL byte; its first line ``G <generation>`` orders the
two files. When a snapshot is taken (on the loop), new changes go to the other, empty file
(:meth:`LeaseJournal.rotate`); once that snapshot is on disk, the file it covers is zeroed
(:meth:`LeaseJournal.release`), while changes made during the write stay journaled.

One change per line, fields separated by one space, queue key ``group@topic@qid``:

=====  ==========================================================================
``P``  ``P <key> <prevNext> <newNext> <popTime> <invisibleMs> <off>,<off>,...``  (a pop)
``A``  ``A <key> <offset> <popTime>``                                             (an ack)
``C``  ``C <key> <offset> <popTime> <newPopTime> <invisibleMs>``                  (change)
``D``  ``D <topic>``                                                              (topic deleted)
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


def drop_line(topic: str) -> str:
    return f"D {topic}\n"


def apply_line(table: LeaseTable, line: str) -> None:
    """Apply one journal line to ``table``; raises ``ValueError`` on a malformed line."""
    kind, key_text, *rest = line.split(" ")
    if kind == "D" and not rest:
        table.drop_topic(key_text)
        return
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


#: bytes of one mapped journal file (sparse; grows when a snapshot interval needs more)
CAPACITY = 4 * 1024 * 1024


class _Segment:
    """One journal file: its map (opened on the first append), write position and generation."""

    def __init__(self, path: Path, capacity: int) -> None:
        self.path = path
        self.capacity = capacity
        self.mm: mmap.mmap | None = None
        self.pos = 0
        self.gen = 0  # 0: empty

    def load(self) -> tuple[int, list[str], int]:
        """(generation, whole lines after the header line, bytes of the header line)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0, [], 0
        end = data.find(b"\0")
        data = data if end < 0 else data[:end]
        raws = data.split(b"\n")[:-1]  # the part after the last newline is a torn write
        if not raws or not raws[0].startswith(b"G "):
            return 0, [], 0
        try:
            gen = int(raws[0][2:])
            lines = [raw.decode("utf-8") for raw in raws[1:]]
        except (ValueError, UnicodeDecodeError):
            return 0, [], 0
        return gen, lines, len(raws[0]) + 1

    def open(self) -> mmap.mmap:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            self.capacity = max(self.capacity, size)
            if size < self.capacity:
                os.ftruncate(fd, self.capacity)
            mm = mmap.mmap(fd, self.capacity)
        finally:
            os.close(fd)
        end = mm.find(b"\0")
        end = self.capacity if end < 0 else end
        if end > self.pos:  # a torn or unreadable tail: zero it, the content ends at the first NUL
            mm[self.pos : end] = bytes(end - self.pos)
        if self.pos == 0:
            self.gen = 0
        self.mm = mm
        return mm

    def write(self, data: bytes) -> None:
        mm = self.mm
        assert mm is not None
        end = self.pos + len(data)
        if end >= self.capacity:  # keep one NUL at the end
            self.capacity = max(2 * self.capacity, end + 1)
            mm.resize(self.capacity)
        mm[self.pos : end] = data
        self.pos = end

    def zero(self) -> None:
        """Empty the file: its used part is zeroed, first byte first."""
        if self.mm is not None:
            if self.pos:
                self.mm[0 : self.pos] = bytes(self.pos)
        elif self.path.exists():
            with open(self.path, "r+b") as fh:
                fh.truncate(0)
        self.pos = 0
        self.gen = 0

    def close(self) -> None:
        if self.mm is not None:
            self.mm.close()
            self.mm = None


class LeaseJournal:
    """The two journal files (see the module docstring): :meth:`replay` once at start, then
    :meth:`append` per change, :meth:`rotate` when a snapshot is taken and :meth:`release` once it
    is written (:meth:`reset` after a snapshot written with nothing appended meanwhile)."""

    def __init__(self, path: Path, capacity: int = CAPACITY) -> None:
        self.path = path
        self._segs = (_Segment(path, capacity), _Segment(path.with_name(path.name + ".1"), capacity))
        self._active = 0
        self._next_gen = 1
        self._failed = False

    def replay(self, table: LeaseTable) -> int:
        """Apply the journal left by the previous run (older file first); returns the number of
        changes applied. Only whole lines count (each :meth:`append` copies one line with its
        newline): a torn or unreadable line ends a file's replay, and later appends overwrite it.
        """
        loaded = [(seg, *seg.load()) for seg in self._segs]
        applied = 0
        for seg, gen, lines, header in sorted(loaded, key=lambda x: x[1]):
            if gen == 0:
                continue
            seg.gen, seg.pos = gen, header
            for line in lines:
                if line:
                    try:
                        apply_line(table, line)
                    except (ValueError, IndexError) as exc:  # what follows cannot be trusted
                        log.warning(
                            "POP journal line unreadable, replay stops there", line=line[:200], error=str(exc)
                        )
                        break
                    applied += 1
                seg.pos += len(line.encode("utf-8")) + 1
            self._next_gen = max(self._next_gen, gen + 1)
            self._active = self._segs.index(seg)
        return applied

    def append(self, line: str) -> None:
        """Copy one change (a line with its newline) into the active file. A journal that cannot
        be opened is logged once and then skipped: the changes are in memory, the snapshot has them."""
        seg = self._segs[self._active]
        if seg.mm is None:
            if self._failed:
                return
            try:
                seg.open()
            except OSError as exc:
                self._failed = True
                log.error("POP journal unavailable; acks rely on the lease snapshot", error=str(exc))
                return
        if seg.pos == 0:
            seg.gen, self._next_gen = self._next_gen, self._next_gen + 1
            seg.write(f"G {seg.gen}\n".encode())
        seg.write(line.encode("utf-8"))

    def rotate(self) -> list[tuple[int, int]]:
        """A snapshot of the table is being taken now: returns what it covers (for :meth:`release`)
        and sends new changes to the other file if that one is empty."""
        covered = [(i, seg.gen) for i, seg in enumerate(self._segs) if seg.pos]
        other = 1 - self._active
        if self._segs[other].pos == 0:
            self._active = other
        return covered

    def release(self, covered: list[tuple[int, int]]) -> None:
        """The snapshot of :meth:`rotate` is on disk: empty the files it covered, except the
        active one (it got later changes when the other file was still waiting for its snapshot)."""
        for i, gen in covered:
            seg = self._segs[i]
            if seg.gen == gen and i != self._active:
                seg.zero()

    def reset(self) -> None:
        """A snapshot holding every change is on disk (and nothing was appended meanwhile)."""
        for seg in self._segs:
            seg.zero()
        self._active = 0

    def close(self) -> None:
        for seg in self._segs:
            seg.close()
