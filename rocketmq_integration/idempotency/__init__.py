"""Opt-in idempotent consumption: skip messages whose dedupe key was already processed.

RocketMQ is at-least-once: producer retries, rebalances and consumer crashes all redeliver.
rocketmq-spring declined built-in dedupe (apache/rocketmq-spring#122); here a listener declared
with ``idempotent="key"`` (first message key) or ``idempotent=True``/``"msg_id"`` (the client
``UNIQ_KEY`` msg id, stable across producer retries) consults an :class:`IdempotencyStore`:

1. ``acquire(group, key)`` — ``True``: first time (now *in progress*); ``False``: processed or
   being processed elsewhere → the message is acknowledged without calling the handler;
2. after success ``mark_done`` records it for ``ttl`` seconds; after a failure ``release`` lets the
   retry run. An in-progress claim expires after ``processing_ttl`` so a crashed worker does not
   block the key forever.

Stores: :class:`InMemoryIdempotencyStore` (one process), :class:`DbApiIdempotencyStore` (a table
in any DB-API database, shared by processes; Django's ``connection`` works) and
:class:`RedisIdempotencyStore` (atomic ``SET NX PX`` claims; needs the optional ``redis`` extra,
imported only when the store is built from a URL). Others plug in through the same three-method
protocol.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

from rocketmq_integration.idempotency.dbapi import DbApiIdempotencyStore
from rocketmq_integration.idempotency.redis_store import RedisIdempotencyStore

__all__ = ["DbApiIdempotencyStore", "IdempotencyStore", "InMemoryIdempotencyStore", "RedisIdempotencyStore"]


@runtime_checkable
class IdempotencyStore(Protocol):
    """Where dedupe keys live."""

    def acquire(self, group: str, key: str) -> bool:
        """Claim ``key`` for processing; ``False`` when it is done or claimed."""
        ...

    def mark_done(self, group: str, key: str) -> None:
        """Record ``key`` as processed."""
        ...

    def release(self, group: str, key: str) -> None:
        """Drop an in-progress claim (processing failed; let the retry run)."""
        ...


class InMemoryIdempotencyStore:
    """A process-local store with expiry (dict + lock; expired entries are pruned on access).

    Args:
        ttl: how long a processed key is remembered (seconds).
        processing_ttl: how long an in-progress claim blocks duplicates.
        max_entries: prune the oldest entries beyond this many.
    """

    def __init__(
        self, ttl: float = 86400.0, processing_ttl: float = 900.0, max_entries: int = 1_000_000
    ) -> None:
        self.ttl = ttl
        self.processing_ttl = processing_ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], tuple[bool, float]] = {}  # -> (done, expires_at)
        self._lock = threading.Lock()

    def acquire(self, group: str, key: str) -> bool:
        """See :meth:`IdempotencyStore.acquire`."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get((group, key))
            if entry is not None and entry[1] > now:
                return False
            self._entries[(group, key)] = (False, now + self.processing_ttl)
            if len(self._entries) > self.max_entries:
                self._prune(now)
            return True

    def mark_done(self, group: str, key: str) -> None:
        """See :meth:`IdempotencyStore.mark_done`."""
        with self._lock:
            self._entries[(group, key)] = (True, time.monotonic() + self.ttl)

    def release(self, group: str, key: str) -> None:
        """See :meth:`IdempotencyStore.release`."""
        with self._lock:
            entry = self._entries.get((group, key))
            if entry is not None and not entry[0]:
                del self._entries[(group, key)]

    def is_done(self, group: str, key: str) -> bool:
        """Whether ``key`` is recorded as processed (and not expired)."""
        with self._lock:
            entry = self._entries.get((group, key))
            return entry is not None and entry[0] and entry[1] > time.monotonic()

    def _prune(self, now: float) -> None:
        for k in [k for k, (_done, exp) in self._entries.items() if exp <= now]:
            del self._entries[k]
        excess = len(self._entries) - self.max_entries
        if excess > 0:
            for k in sorted(self._entries, key=lambda k: self._entries[k][1])[:excess]:
                del self._entries[k]
