"""The DB idempotency store on the :class:`~rocketmq_integration.django.models.IdempotencyKey` model
(``ROCKETMQ["IDEMPOTENCY"]["BACKEND"] = "db"``), shared by every consumer process of the project.

Claims race safely on the (group, key) unique constraint: the loser's INSERT fails with
``IntegrityError`` inside its own ``atomic`` block and it answers ``False``. Expiry uses wall-clock
time because several hosts share the table.

The listener container calls some store methods on its event loop, where Django forbids ORM calls
(``SynchronousOnlyOperation``); such calls run on the store's own small thread pool instead (the
caller waits, as it would for any blocking store).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, transaction

from rocketmq_integration.django.models import IdempotencyKey

__all__ = ["DjangoIdempotencyStore"]

T = TypeVar("T")


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class DjangoIdempotencyStore:
    """:class:`~rocketmq_integration.idempotency.IdempotencyStore` on the Django ORM.

    Args:
        using: database alias.
        ttl: how long a processed key is remembered (seconds).
        processing_ttl: how long an in-progress claim blocks duplicates (seconds).
    """

    def __init__(
        self, *, using: str = "default", ttl: float = 86400.0, processing_ttl: float = 900.0
    ) -> None:
        self.using = using
        self.ttl = ttl
        self.processing_ttl = processing_ttl
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _sync(self, fn: Callable[[], T]) -> T:
        """``fn()`` here, or on the store's threads when called from inside an event loop."""
        if not _in_event_loop():
            return fn()
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    2, thread_name_prefix="rocketmq-idempotency"
                )
            pool = self._pool
        return pool.submit(fn).result()

    def acquire(self, group: str, key: str) -> bool:
        """See :meth:`IdempotencyStore.acquire`."""
        return self._sync(lambda: self._acquire(group, key))

    def _acquire(self, group: str, key: str) -> bool:
        now = time.time()
        rows = IdempotencyKey.objects.using(self.using)
        try:
            with transaction.atomic(using=self.using):
                rows.filter(group=group, key=key, expires_at__lte=now).delete()
                rows.create(group=group, key=key, done=False, expires_at=now + self.processing_ttl)
        except IntegrityError:
            return False
        return True

    def mark_done(self, group: str, key: str) -> None:
        """See :meth:`IdempotencyStore.mark_done`."""
        self._sync(lambda: self._mark_done(group, key))

    def _mark_done(self, group: str, key: str) -> None:
        expires = time.time() + self.ttl
        rows = IdempotencyKey.objects.using(self.using)
        if not rows.filter(group=group, key=key).update(done=True, expires_at=expires):
            try:
                with transaction.atomic(using=self.using):
                    rows.create(group=group, key=key, done=True, expires_at=expires)
            except IntegrityError:
                rows.filter(group=group, key=key).update(done=True, expires_at=expires)

    def release(self, group: str, key: str) -> None:
        """See :meth:`IdempotencyStore.release`."""
        self._sync(
            lambda: IdempotencyKey.objects.using(self.using).filter(group=group, key=key, done=False).delete()
        )

    def is_done(self, group: str, key: str) -> bool:
        """Whether ``key`` is recorded as processed (and not expired)."""
        return self._sync(
            lambda: (
                IdempotencyKey.objects.using(self.using)
                .filter(group=group, key=key, done=True, expires_at__gt=time.time())
                .exists()
            )
        )

    def purge_expired(self) -> int:
        """Delete expired rows; returns how many."""
        rows = IdempotencyKey.objects.using(self.using)
        deleted, _ = self._sync(lambda: rows.filter(expires_at__lte=time.time()).delete())
        return deleted
