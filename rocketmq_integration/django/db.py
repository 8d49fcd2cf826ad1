"""Sending tied to Django database transactions: :func:`send_on_commit` and :func:`send_via_outbox`.

* :func:`send_on_commit` sends from ``transaction.on_commit``: nothing is sent when the
  transaction rolls back, the message goes out once after it commits. The message is built (and
  its payload converted) at call time, so later changes to the payload object do not leak in.
  Fast and simple, but a process that dies between COMMIT and the send loses the message.
* :func:`send_via_outbox` writes an :class:`~rocketmq_integration.django.models.OutboxMessage` row
  in the caller's transaction; ``manage.py rocketmq_outbox_relay`` (:class:`OutboxRelay`) sends
  it later — at least once, in ``id`` order (so in order per ``hash_key``), surviving crashes of
  the web process and of the relay. Each row carries a ``UNIQ_KEY`` msg id fixed at enqueue
  time, so a re-send after a relay crash is recognisable as the same message by idempotent
  listeners (``idempotent=True``).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction

from broker_core.message.model import Message
from broker_core.message.properties import MessageConst
from rocketmq_integration.client.sending import set_uniq_id
from rocketmq_integration.django import get_template
from rocketmq_integration.django.conf import get_config
from rocketmq_integration.django.models import OutboxMessage, RelayLease
from rocketmq_integration.django.signals import message_sent
from rocketmq_integration.logging import get_logger

__all__ = ["OutboxRelay", "send_on_commit", "send_via_outbox"]

log = get_logger(__name__)


def send_on_commit(
    destination: str,
    payload: Any,
    *,
    using: str | None = None,
    robust: bool = False,
    template: str = "default",
    keys: str | Sequence[str] | None = None,
    headers: Mapping[str, Any] | None = None,
    delay_level: int = 0,
    hash_key: str | None = None,
) -> Message:
    """Send ``payload`` to ``destination`` once the current transaction of ``using`` commits.

    Outside ``atomic`` (autocommit) the message is sent at once, as Django runs ``on_commit``
    callbacks immediately then. ``robust=True`` logs a failed send instead of raising it from the
    commit (Django's ``on_commit(robust=...)``).

    Returns:
        The message that will be sent (its ``UNIQ_KEY`` msg id is assigned on the send).
    """
    tpl = get_template(template)
    msg = tpl.build_message(destination, payload, keys=keys, headers=headers, delay_level=delay_level)

    def send() -> None:
        result = tpl.send(destination, msg, hash_key=hash_key)
        message_sent.send(send_on_commit, destination=destination, result=result)

    transaction.on_commit(send, using=using, robust=robust)
    return msg


def send_via_outbox(
    destination: str,
    payload: Any,
    *,
    using: str | None = None,
    template: str = "default",
    keys: str | Sequence[str] | None = None,
    headers: Mapping[str, Any] | None = None,
    delay_level: int = 0,
    hash_key: str | None = None,
) -> OutboxMessage:
    """Write ``payload`` to the outbox in the current transaction of ``using``.

    ``using`` defaults to ``ROCKETMQ["OUTBOX"]["DATABASE"]``; the relay sends rows with one
    ``hash_key`` to one queue, in the order they were written.
    """
    db = using or get_config()["OUTBOX"]["DATABASE"]
    msg = get_template(template).build_message(
        destination, payload, keys=keys, headers=headers, delay_level=delay_level
    )
    set_uniq_id(msg)
    props = dict(msg.properties)
    tags = props.pop(MessageConst.TAGS, "")
    msg_keys = props.pop(MessageConst.KEYS, "")
    props.pop(MessageConst.DELAY, None)
    return OutboxMessage.objects.using(db).create(
        topic=msg.topic, tags=tags, keys=msg_keys, hash_key=hash_key or "", body=msg.body, properties=props,
        delay_level=delay_level, template=template, msg_id=props.get(MessageConst.UNIQ_KEY, ""),
    )  # fmt: skip


def _message(row: OutboxMessage) -> Message:
    msg = Message(row.topic, bytes(row.body), properties={str(k): str(v) for k, v in row.properties.items()})
    if row.tags:
        msg.tags = row.tags
    if row.keys:
        msg.keys = row.keys
    if row.delay_level:
        msg.delay_time_level = row.delay_level
    return msg


class OutboxRelay:
    """Sends pending outbox rows in ``id`` order; one relay at a time per ``name`` (a DB lease).

    Args:
        using: database alias (default ``OUTBOX.DATABASE``).
        batch_size: rows read per round (default ``OUTBOX.BATCH_SIZE``).
        poll_interval: seconds between rounds when the outbox is empty (default ``OUTBOX.POLL_INTERVAL``).
        lease: seconds a relay's lease lasts without renewal (default ``OUTBOX.LEASE``); a crashed
            relay's rows are taken over after it.
        name: the lease name (relays with different names would race; keep the default).
        mark_every: sends per "mark sent" transaction (1: a commit per row, fewest re-sends after
            a crash; larger: fewer commits).

    Delivery is at least once: a row is marked sent only after the broker stored it, so a relay
    killed between the two re-sends those rows (with the same msg ids) after restart. A failed send
    ends the round, so no later row overtakes it.
    """

    def __init__(
        self,
        *,
        using: str | None = None,
        batch_size: int | None = None,
        poll_interval: float | None = None,
        lease: float | None = None,
        name: str = "outbox",
        mark_every: int = 10,
    ) -> None:
        opts = get_config()["OUTBOX"]
        self.using = using or opts["DATABASE"]
        self.batch_size = int(batch_size or opts["BATCH_SIZE"])
        self.poll_interval = float(poll_interval if poll_interval is not None else opts["POLL_INTERVAL"])
        self.lease = float(lease or opts["LEASE"])
        self.name = name
        self.mark_every = max(1, mark_every)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.stop_event = threading.Event()
        self.sent = 0

    # ------------------------------------------------------------------ lease

    def acquire_lease(self) -> bool:
        """Take or renew the lease; False while another live relay holds it."""
        now = time.time()
        leases = RelayLease.objects.using(self.using)
        with transaction.atomic(using=self.using):
            taken = leases.filter(name=self.name, owner=self.owner).update(
                expires_at=now + self.lease
            ) or leases.filter(name=self.name, expires_at__lt=now).update(
                owner=self.owner, expires_at=now + self.lease
            )
        if taken:
            return True
        try:
            with transaction.atomic(using=self.using):
                leases.create(name=self.name, owner=self.owner, expires_at=now + self.lease)
        except IntegrityError:
            return False
        return True

    def release_lease(self) -> None:
        """Give the lease up (a clean stop lets another relay start at once)."""
        RelayLease.objects.using(self.using).filter(name=self.name, owner=self.owner).delete()

    # ------------------------------------------------------------------ rounds

    def pending(self) -> list[OutboxMessage]:
        """The next rows to send, oldest first."""
        rows = OutboxMessage.objects.using(self.using).filter(sent_at__isnull=True).order_by("id")
        return list(rows[: self.batch_size])

    def run_once(self) -> int | None:
        """One round: send up to ``batch_size`` pending rows; returns how many were sent, or
        ``None`` while another relay holds the lease.

        Raises:
            Exception: what the failed send raised (the row keeps its place; ``attempts`` and
                ``last_error`` record it).
        """
        if not self.acquire_lease():
            return None
        return self.send_rows(self.pending())  # read under the lease; send_rows renews it

    def send_rows(self, rows: Sequence[OutboxMessage]) -> int | None:
        """Send ``rows`` (oldest first) under the lease; the count sent, or ``None`` when another
        relay holds the lease. Raises what a failed send raised (see :meth:`run_once`).

        Rows are marked sent in one transaction per ``mark_every`` sends (one commit instead of
        one per row); a crash re-sends at most that many already stored messages.
        """
        if not self.acquire_lease():
            return None
        sent = 0
        done: list[tuple[OutboxMessage, str]] = []
        try:
            for row in rows:
                if self.stop_event.is_set():
                    break
                tpl = get_template(row.template)
                try:
                    result = tpl.send(row.topic, _message(row), hash_key=row.hash_key or None)
                except Exception as exc:
                    OutboxMessage.objects.using(self.using).filter(pk=row.pk).update(
                        attempts=row.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
                    )
                    raise
                done.append((row, result.msg_id or row.msg_id))
                message_sent.send(OutboxRelay, destination=row.topic, result=result)
                sent += 1
                self.sent += 1
                if len(done) >= self.mark_every:
                    self._mark_sent(done)
                    if not self.acquire_lease():  # renew; another relay took over
                        break
        finally:
            self._mark_sent(done)
        return sent

    def _mark_sent(self, done: list[tuple[OutboxMessage, str]]) -> None:
        if not done:
            return
        now = dt.datetime.now(dt.UTC)
        rows = OutboxMessage.objects.using(self.using)
        with transaction.atomic(using=self.using):
            for row, msg_id in done:
                rows.filter(pk=row.pk).update(
                    sent_at=now, attempts=row.attempts + 1, msg_id=msg_id, last_error=""
                )
        done.clear()

    def run(self, *, once: bool = False) -> int:
        """Rounds until :meth:`stop`; with ``once`` until the outbox is empty (waiting for the lease
        when another relay holds it). Returns the rows sent."""
        try:
            while not self.stop_event.is_set():
                try:
                    n = self.run_once()
                except Exception as exc:
                    if once:
                        raise
                    log.warning("outbox send failed; retrying", error=f"{type(exc).__name__}: {exc}")
                    n = 0
                if n == 0 and once:
                    break
                if not n:
                    self.stop_event.wait(self.poll_interval)
        finally:
            self.release_lease()
        return self.sent

    def stop(self) -> None:
        """Finish the row in flight and return from :meth:`run`."""
        self.stop_event.set()
