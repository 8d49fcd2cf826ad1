"""Queue locks for ordered consumption (``RebalanceLockManager``).

Per group, queue -> (client id, last renewal). A lock is granted when the queue is free, its lease
expired (``lockMaxLiveTime`` 60 s since the last renewal), or it is already held by the same client
(which renews it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

MQ = tuple[str, str, int]  # (topic, broker_name, queue_id)


class RebalanceLockManager:
    def __init__(self, max_live_seconds: float = 60.0) -> None:
        self.max_live = max_live_seconds
        self._locks: dict[str, dict[MQ, tuple[str, float]]] = {}

    def try_lock_batch(self, group: str, mqs: Iterable[MQ], client_id: str) -> list[MQ]:
        now = time.monotonic()
        table = self._locks.setdefault(group, {})
        granted: list[MQ] = []
        for mq in mqs:
            holder = table.get(mq)
            if holder is None or holder[0] == client_id or now - holder[1] > self.max_live:
                table[mq] = (client_id, now)
                granted.append(mq)
        return granted

    def unlock_batch(self, group: str, mqs: Iterable[MQ], client_id: str) -> None:
        table = self._locks.get(group)
        if not table:
            return
        for mq in mqs:
            holder = table.get(mq)
            if holder is not None and holder[0] == client_id:
                del table[mq]

    def is_locked(self, group: str, mq: MQ, client_id: str) -> bool:
        holder = self._locks.get(group, {}).get(mq)
        return holder is not None and holder[0] == client_id and time.monotonic() - holder[1] <= self.max_live
