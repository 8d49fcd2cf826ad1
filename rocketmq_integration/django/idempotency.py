"""The DB idempotency store on the :class:`~rocketmq_integration.django.models.IdempotencyKey` model
(``ROCKETMQ["IDEMPOTENCY"]["BACKEND"] = "db"``), shared by every consumer process of the project.

Claims race safely on the (group, key) unique constraint: the loser's INSERT fails with
``IntegrityError`` inside its own ``atomic`` block and it answers ``False``. Expiry uses wall-clock
time because several hosts share the table.
"""

from __future__ import annotations

import time

from django.db import IntegrityError, transaction

from rocketmq_integration.django.models import IdempotencyKey

__all__ = ["DjangoIdempotencyStore"]


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

    def acquire(self, group: str, key: str) -> bool:
        """See :meth:`IdempotencyStore.acquire`."""
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
        IdempotencyKey.objects.using(self.using).filter(group=group, key=key, done=False).delete()

    def is_done(self, group: str, key: str) -> bool:
        """Whether ``key`` is recorded as processed (and not expired)."""
        return (
            IdempotencyKey.objects.using(self.using)
            .filter(group=group, key=key, done=True, expires_at__gt=time.time())
            .exists()
        )

    def purge_expired(self) -> int:
        """Delete expired rows; returns how many."""
        deleted, _ = IdempotencyKey.objects.using(self.using).filter(expires_at__lte=time.time()).delete()
        return deleted
