"""Models of the RocketMQ app: the transactional outbox, the transaction log, idempotency keys.

* :class:`OutboxMessage` — a message written in the caller's DB transaction and sent later by
  ``manage.py rocketmq_outbox_relay`` (at-least-once, in ``id`` order, so in order per
  ``hash_key``). A row is marked sent only after the broker stored it.
* :class:`RelayLease` — which relay process owns the outbox right now (one at a time, so the
  per-key order holds; a crashed relay's lease expires).
* :class:`TransactionRecord` — written inside the ``atomic`` block of a
  :class:`~rocketmq_integration.django.transactions.DjangoAtomicTransactionListener`; its presence
  answers the broker's check-back with COMMIT, its absence with ROLLBACK.
* :class:`IdempotencyKey` — the rows of the DB idempotency store (``IDEMPOTENCY.BACKEND = "db"``).
"""

from __future__ import annotations

from datetime import datetime

from django.db import models

__all__ = ["IdempotencyKey", "OutboxMessage", "RelayLease", "TransactionRecord"]


class OutboxMessage(models.Model):
    """One message waiting in (or sent from) the outbox."""

    topic: models.CharField[str, str] = models.CharField(max_length=127)
    tags: models.CharField[str, str] = models.CharField(max_length=128, blank=True, default="")
    keys: models.CharField[str, str] = models.CharField(max_length=255, blank=True, default="")
    hash_key: models.CharField[str, str] = models.CharField(
        max_length=255, blank=True, default="", help_text="Messages with one hash key keep their order."
    )
    body: models.BinaryField[bytes, bytes] = models.BinaryField()
    properties: models.JSONField[dict[str, str], dict[str, str]] = models.JSONField(default=dict, blank=True)
    delay_level: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(default=0)
    template: models.CharField[str, str] = models.CharField(max_length=64, default="default")
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(auto_now_add=True)
    sent_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    msg_id: models.CharField[str, str] = models.CharField(max_length=64, blank=True, default="")
    attempts: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(default=0)
    last_error: models.TextField[str, str] = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["sent_at", "id"], name="rocketmq_outbox_pending")]
        verbose_name = "outbox message"

    def __str__(self) -> str:
        state = f"sent {self.msg_id}" if self.sent_at else "pending"
        return f"#{self.pk} {self.topic} ({state})"


class RelayLease(models.Model):
    """The outbox relay lock: one live owner per ``name``."""

    name: models.CharField[str, str] = models.CharField(max_length=64, primary_key=True)
    owner: models.CharField[str, str] = models.CharField(max_length=255)
    expires_at: models.FloatField[float, float] = models.FloatField(
        help_text="Unix time after which another relay may take over."
    )

    def __str__(self) -> str:
        return f"{self.name} held by {self.owner}"


class TransactionRecord(models.Model):
    """Proof that the local transaction of a RocketMQ transactional message committed."""

    transaction_id: models.CharField[str, str] = models.CharField(max_length=128, unique=True)
    producer_group: models.CharField[str, str] = models.CharField(max_length=255)
    topic: models.CharField[str, str] = models.CharField(max_length=127)
    keys: models.CharField[str, str] = models.CharField(max_length=255, blank=True, default="")
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "transaction record"

    def __str__(self) -> str:
        return f"{self.transaction_id} ({self.producer_group})"


class IdempotencyKey(models.Model):
    """A dedupe key of one consumer group: claimed (``done`` False) or processed."""

    group: models.CharField[str, str] = models.CharField(max_length=255)
    key: models.CharField[str, str] = models.CharField(max_length=255)
    done: models.BooleanField[bool, bool] = models.BooleanField(default=False)
    expires_at: models.FloatField[float, float] = models.FloatField(
        help_text="Unix time after which the key is forgotten."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "key"], name="rocketmq_idempotency_group_key")
        ]
        verbose_name = "idempotency key"

    def __str__(self) -> str:
        return f"{self.group}/{self.key} ({'done' if self.done else 'in progress'})"
