"""Timer log (on disk) and hashed timing wheel (in memory) for 5.x timer messages.

A timer message is first stored, transformed, in ``rmq_sys_wheel_timer`` (the commit log keeps
its bytes). The timer service then appends one *enqueue* unit per message to the timer log and
links it into the wheel; when the message has been re-put to its real topic a *done* unit is
appended. On restart the log is replayed: enqueued minus done = the pending messages, so the wheel
survives a broker restart (a crash between the re-put and the done unit re-delivers: at least
once). Replay also compacts the log to the pending units.

Timer log unit, 32 bytes, big-endian (Apache's unit is 52 bytes with a backwards slot chain; we
rebuild the slot lists in memory instead, so the chain pointer is not needed):

| off | size | field      | meaning                                              |
|-----|------|------------|------------------------------------------------------|
| 0   | 4    | size       | always 32                                            |
| 4   | 4    | magic      | 1 = enqueue, 2 = done                                |
| 8   | 8    | deliverMs  | absolute delivery time (epoch ms)                    |
| 16  | 8    | offsetPy   | commit-log offset of the parked record               |
| 24  | 4    | sizePy     | size of that record                                  |
| 28  | 4    | reserved   | 0                                                    |

The wheel has ``slots`` buckets of one precision unit (1 s by default); a unit due at tick ``t``
(``t = ceil(deliverMs / precisionMs)``) lives in bucket ``t % slots`` together with units of
later rounds, which stay put when the bucket is expired. The service expires tick ``t`` when its
interval ``((t-1)·precision, t·precision]`` begins and then re-puts each unit at its own
``deliverMs``, so deliveries are neither early nor a whole precision unit late.
"""

from __future__ import annotations

import enum
import os
import struct
from dataclasses import dataclass
from pathlib import Path

UNIT = struct.Struct(">iiqqii")
UNIT_SIZE = UNIT.size  # 32


class UnitMagic(enum.IntEnum):
    ENQUEUE = 1
    DONE = 2


@dataclass(frozen=True, slots=True)
class TimerUnit:
    """One pending timer message: where its parked record is and when it is due."""

    deliver_ms: int
    offset_py: int
    size_py: int


def tick_of(deliver_ms: int, precision_ms: int) -> int:
    """The wheel tick at which a message due at ``deliver_ms`` fires (never before it is due)."""
    return -(-deliver_ms // precision_ms)


class HashedWheel:
    """Buckets of pending units keyed by tick modulo ``slots``; sans-I/O."""

    def __init__(self, slots: int, precision_ms: int) -> None:
        if slots <= 0 or precision_ms <= 0:
            raise ValueError("wheel slots and precision must be positive")
        self.slots = slots
        self.precision_ms = precision_ms
        self._buckets: list[dict[int, tuple[int, TimerUnit]]] = [{} for _ in range(slots)]
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, unit: TimerUnit, tick: int | None = None) -> bool:
        """Link a unit into the bucket of ``tick`` (default: its due tick); False if already there."""
        if tick is None:
            tick = tick_of(unit.deliver_ms, self.precision_ms)
        bucket = self._buckets[tick % self.slots]
        if unit.offset_py in bucket:
            return False
        bucket[unit.offset_py] = (tick, unit)
        self._count += 1
        return True

    def expire(self, tick: int) -> list[TimerUnit]:
        """Remove and return the units of ``tick``'s bucket that are due at or before ``tick``."""
        bucket = self._buckets[tick % self.slots]
        if not bucket:
            return []
        due = [(t, u) for t, u in bucket.values() if t <= tick]
        for _, u in due:
            del bucket[u.offset_py]
        self._count -= len(due)
        return [u for _, u in due]

    def expire_range(self, first: int, last: int) -> list[TimerUnit]:
        """Expire ticks ``first..last``; a span longer than the wheel visits each bucket once."""
        if last < first:
            return []
        if last - first + 1 >= self.slots:
            first = last - self.slots + 1
        out: list[TimerUnit] = []
        for tick in range(first, last + 1):
            out.extend(self.expire(tick))
        return out

    def pending(self) -> list[TimerUnit]:
        return [u for bucket in self._buckets for _, u in bucket.values()]


class TimerLog:
    """Append-only file of 32-byte units; see the module docstring for the layout."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._dir_ready = False
        self.max_offset_py = -1

    def replay(self) -> list[TimerUnit]:
        """Pending units (enqueued, not done), in log order; rewrites the log to just those.

        Also sets :attr:`max_offset_py`, the highest record ever enqueued (kept across compaction
        by a trailing done unit), so a re-read of the parked queue never enqueues a record twice.
        """
        pending: dict[int, TimerUnit] = {}
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        whole = len(data) - len(data) % UNIT_SIZE  # a torn last unit is dropped
        for size, magic, deliver_ms, offset_py, size_py, _ in UNIT.iter_unpack(data[:whole]):
            if size != UNIT_SIZE:
                break
            self.max_offset_py = max(self.max_offset_py, offset_py)
            if magic == UnitMagic.ENQUEUE:
                pending[offset_py] = TimerUnit(deliver_ms, offset_py, size_py)
            elif magic == UnitMagic.DONE:
                pending.pop(offset_py, None)
        units = list(pending.values())
        keep = [self._pack(UnitMagic.ENQUEUE, u) for u in units]
        if self.max_offset_py >= 0:
            keep.append(self._pack(UnitMagic.DONE, TimerUnit(0, self.max_offset_py, 0)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(b"".join(keep))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        return units

    @staticmethod
    def _pack(magic: UnitMagic, unit: TimerUnit) -> bytes:
        return UNIT.pack(UNIT_SIZE, magic, unit.deliver_ms, unit.offset_py, unit.size_py, 0)

    def append(self, magic: UnitMagic, units: list[TimerUnit]) -> None:
        """Append units and hand them to the OS (a process crash loses nothing)."""
        if not units:
            return
        if not self._dir_ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._dir_ready = True
        with open(self.path, "ab") as fh:
            fh.write(b"".join(self._pack(magic, u) for u in units))
        if magic == UnitMagic.ENQUEUE:
            self.max_offset_py = max(self.max_offset_py, max(u.offset_py for u in units))

    def fsync(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
