"""POP invisible-time leases per (group, topic, queue); sans-I/O, persisted as JSON.

A queue's POP state is ``next_offset`` (where the next fresh pop starts) plus the leases of popped,
un-acked messages. Everything below ``next_offset`` without a lease is done (acked, revived to the
retry topic, or skipped by the filter), so out-of-order acks need no extra bitmap: an ack deletes
its lease and the group's committed offset becomes the lowest leased offset (or ``next_offset``).

File ``config/popLeases.json``::

    {"queues": {"<group>@<topic>@<qid>": {"next": 12, "leases": {"9": [popTimeMs, invisibleMs], ...}}}}
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str, int]


@dataclass(slots=True)
class Lease:
    pop_time: int
    invisible_ms: int

    @property
    def deadline(self) -> int:
        return self.pop_time + self.invisible_ms


@dataclass(slots=True)
class QueueLeases:
    next_offset: int
    leases: dict[int, Lease] = field(default_factory=dict)

    def committed(self) -> int:
        """Lowest offset not yet done: the group's consume progress for this queue."""
        return min(self.leases) if self.leases else self.next_offset


class LeaseError(LookupError):
    """No live lease matches a receipt handle (already acked, expired and revived, or unknown)."""


class LeaseTable:
    """All queues' leases plus a deadline heap for the revive task."""

    def __init__(self) -> None:
        self.queues: dict[Key, QueueLeases] = {}
        self._heap: list[tuple[int, Key, int, int]] = []  # (deadline, key, offset, pop_time)

    def get(self, key: Key) -> QueueLeases | None:
        return self.queues.get(key)

    def ensure(self, key: Key, start_offset: int) -> QueueLeases:
        q = self.queues.get(key)
        if q is None:
            q = self.queues[key] = QueueLeases(start_offset)
        return q

    def drop_topic(self, topic: str) -> int:
        """Forget every queue of ``topic`` (deleted): its stale heap entries are skipped later."""
        keys = [k for k in self.queues if k[1] == topic]
        for key in keys:
            del self.queues[key]
        return len(keys)

    def lease(self, key: Key, offset: int, pop_time: int, invisible_ms: int) -> None:
        q = self.queues[key]
        q.leases[offset] = Lease(pop_time, invisible_ms)
        heapq.heappush(self._heap, (pop_time + invisible_ms, key, offset, pop_time))

    def _live(self, key: Key, offset: int, pop_time: int) -> tuple[QueueLeases, Lease]:
        q = self.queues.get(key)
        lease = q.leases.get(offset) if q is not None else None
        if q is None or lease is None or lease.pop_time != pop_time:
            raise LeaseError(
                f"no live lease for {key[1]} queue {key[2]} offset {offset} (popTime {pop_time}): "
                "already acked, or the invisible time expired and the message was re-delivered"
            )
        return q, lease

    def ack(self, key: Key, offset: int, pop_time: int) -> int:
        """Remove a lease; returns the queue's new committed offset."""
        q, _ = self._live(key, offset, pop_time)
        del q.leases[offset]
        return q.committed()

    def change(self, key: Key, offset: int, pop_time: int, new_pop_time: int, invisible_ms: int) -> None:
        """Restart a lease's invisible period from ``new_pop_time`` (the handle changes)."""
        q, _ = self._live(key, offset, pop_time)
        q.leases[offset] = Lease(new_pop_time, invisible_ms)
        heapq.heappush(self._heap, (new_pop_time + invisible_ms, key, offset, new_pop_time))

    def next_deadline(self) -> int | None:
        """Earliest deadline of a live lease (stale heap entries are dropped on the way)."""
        while self._heap:
            deadline, key, offset, pop_time = self._heap[0]
            q = self.queues.get(key)
            lease = q.leases.get(offset) if q is not None else None
            if lease is not None and lease.pop_time == pop_time:
                return deadline
            heapq.heappop(self._heap)
        return None

    def pop_expired(self, now_ms: int) -> list[tuple[Key, int, Lease]]:
        """Leases whose invisible time is over, removed from the table (to be revived)."""
        out: list[tuple[Key, int, Lease]] = []
        while (deadline := self.next_deadline()) is not None and deadline <= now_ms:
            _, key, offset, _ = heapq.heappop(self._heap)
            lease = self.queues[key].leases.pop(offset)
            out.append((key, offset, lease))
        return out

    # ---------------------------------------------------------------- persistence
    def to_json_dict(self) -> dict[str, Any]:
        return {
            "queues": {
                f"{g}@{t}@{qid}": {
                    "next": q.next_offset,
                    "leases": {str(o): [lease.pop_time, lease.invisible_ms] for o, lease in q.leases.items()},
                }
                for (g, t, qid), q in self.queues.items()
            }
        }

    @classmethod
    def from_json_dict(cls, obj: Any) -> LeaseTable:
        table = cls()
        for name, data in dict(obj.get("queues", {})).items():
            group, topic, qid = str(name).rsplit("@", 2)
            key = (group, topic, int(qid))
            table.queues[key] = QueueLeases(int(data["next"]))
            for off, (pop_time, invisible) in dict(data.get("leases", {})).items():
                table.lease(key, int(off), int(pop_time), int(invisible))
        return table
