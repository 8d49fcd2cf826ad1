"""Queue allocation strategies (storage spec §3.4): pure functions of (group, me, queues, clients).

Every member of a group runs the same strategy on the same inputs and must arrive at the same
split, so each strategy sorts both lists first and uses no randomness: the result is a function of
the *sets* of queues and client ids. For every strategy the union over all clients is the whole
queue set (or, for machine-room allocation, every queue of the configured rooms) and the parts are
disjoint; ``tests/unit/client/test_client_allocate.py`` checks that by property testing.

| strategy                  | Java class                                  | idea                          |
|---------------------------|---------------------------------------------|-------------------------------|
| allocate_averagely        | AllocateMessageQueueAveragely               | contiguous blocks             |
| allocate_averagely_by_circle | AllocateMessageQueueAveragelyByCircle    | round robin                   |
| AllocateConsistentHash    | AllocateMessageQueueConsistentHash          | hash ring with virtual nodes  |
| AllocateByConfig          | AllocateMessageQueueByConfig                | a fixed list for this client  |
| AllocateByMachineRoom     | AllocateMessageQueueByMachineRoom           | averagely over rooms' queues  |
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from broker_core.message.model import MessageQueue

__all__ = [
    "AllocateByConfig",
    "AllocateByMachineRoom",
    "AllocateConsistentHash",
    "AllocateStrategy",
    "allocate_averagely",
    "allocate_averagely_by_circle",
]


class AllocateStrategy(Protocol):
    def __call__(
        self, group: str, client_id: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
    ) -> list[MessageQueue]: ...


def allocate_averagely(
    group: str, client_id: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
) -> list[MessageQueue]:
    """Contiguous blocks; the first ``len(mq_all) % len(cid_all)`` clients get one queue more (``AVG``)."""
    mqs = sorted(set(mq_all))
    cids = sorted(set(cid_all))
    if client_id not in cids or not mqs:
        return []
    n, c, i = len(mqs), len(cids), cids.index(client_id)
    mod = n % c
    if n <= c:
        size = 1
    elif mod > 0 and i < mod:
        size = n // c + 1
    else:
        size = n // c
    start = i * size if (mod > 0 and i < mod) else i * size + mod
    return [mqs[(start + k) % n] for k in range(min(size, n - start))]


def allocate_averagely_by_circle(
    group: str, client_id: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
) -> list[MessageQueue]:
    """Queue ``j`` goes to client ``j % len(cid_all)`` (``AVG_BY_CIRCLE``)."""
    mqs = sorted(set(mq_all))
    cids = sorted(set(cid_all))
    if client_id not in cids:
        return []
    i, c = cids.index(client_id), len(cids)
    return [mq for j, mq in enumerate(mqs) if j % c == i]


def _md5_hash(key: str) -> int:
    """First four MD5 bytes as an unsigned int (Java ``ConsistentHashRouter.MD5Hash``)."""
    return int.from_bytes(hashlib.md5(key.encode("utf-8"), usedforsecurity=False).digest()[:4], "big")


def _mq_key(mq: MessageQueue) -> str:
    return f"MessageQueue [topic={mq.topic}, brokerName={mq.broker_name}, queueId={mq.queue_id}]"


class AllocateConsistentHash:
    """A hash ring of ``virtual_nodes`` points per client; a queue goes to the next point clockwise.

    Adding or removing one client moves only the queues of the ring arcs it gains or loses, so
    fewer queues change hands on a rebalance than with the averaging strategies (at the price of a
    less even split).
    """

    def __init__(self, virtual_nodes: int = 10) -> None:
        if virtual_nodes < 1:
            raise ValueError("virtual_nodes must be >= 1")
        self.virtual_nodes = virtual_nodes

    def __call__(
        self, group: str, client_id: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
    ) -> list[MessageQueue]:
        cids = sorted(set(cid_all))
        if client_id not in cids:
            return []
        # ties on a point are broken by client id, so every member builds the same ring
        ring = sorted((_md5_hash(f"{cid}-{i}"), cid) for cid in cids for i in range(self.virtual_nodes))
        points = [p for p, _ in ring]
        mine = []
        for mq in sorted(set(mq_all)):
            idx = bisect.bisect_left(points, _md5_hash(_mq_key(mq))) % len(ring)
            if ring[idx][1] == client_id:
                mine.append(mq)
        return mine


class AllocateByConfig:
    """Always the configured queues (each client of the group configures its own, disjoint list)."""

    def __init__(self, queues: Iterable[MessageQueue]) -> None:
        self.queues = sorted(set(queues))

    def __call__(
        self, group: str, client_id: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
    ) -> list[MessageQueue]:
        return list(self.queues)


class AllocateByMachineRoom:
    """Averagely over the queues of brokers in ``rooms``; a broker name is ``<room>@<name>``.

    Queues of brokers in other rooms are left to other consumers (Java's multi-IDC deployment):
    each client gets ``n // c`` contiguous queues and the first ``n % c`` clients one of the rest.
    """

    def __init__(self, rooms: Iterable[str]) -> None:
        self.rooms = frozenset(rooms)

    def __call__(
        self, group: str, client_id: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
    ) -> list[MessageQueue]:
        cids = sorted(set(cid_all))
        if client_id not in cids:
            return []
        premq = [mq for mq in sorted(set(mq_all)) if mq.broker_name.split("@", 1)[0] in self.rooms]
        c, i = len(cids), cids.index(client_id)
        mod, rem = divmod(len(premq), c)
        mine = premq[i * mod : i * mod + mod]
        if i < rem:
            mine.append(premq[mod * c + i])
        return mine
