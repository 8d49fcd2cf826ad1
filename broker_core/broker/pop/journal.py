"""Write-ahead journal of POP lease changes, between two snapshots of ``popLeases.json``.

Why: the lease table is snapshotted ``popCkPersistDelayMs`` (50 ms) after a change. A broker
killed inside that window would forget acks it had already answered, and the acked messages would
be revived and delivered again (a Celery ``acks_late`` task run twice although its ack succeeded).
Apache 5.x avoids this by writing pop checkpoints and acks into the commit log; here every change
is appended to ``config/popLeases.journal`` with one ``write()`` before the answer goes out (page
cache: survives a process crash; a power cut is covered only as far as the snapshot's fsync), and
the journal is emptied each time a snapshot is written.

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


class LeaseJournal:
    """The append-only file; ``append`` is one unbuffered ``write()`` per change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def replay(self, table: LeaseTable) -> int:
        """Apply the journal left by the previous run; returns the number of changes applied."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0
        applied = 0
        for line in text.splitlines():
            if not line:
                continue
            try:
                apply_line(table, line)
            except (ValueError, IndexError) as exc:  # a torn last line: what follows cannot be trusted
                log.warning(
                    "POP journal line unreadable, replay stops there", line=line[:200], error=str(exc)
                )
                break
            applied += 1
        return applied

    def append(self, line: str) -> None:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(self._fd, line.encode("utf-8"))

    def reset(self) -> None:
        """The snapshot now holds every change: start an empty journal."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
        elif self.path.exists():
            self.path.write_bytes(b"")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
