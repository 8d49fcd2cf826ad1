"""RocketMQ transactional messages whose local transaction is a Django ``atomic`` block.

The flow (RocketMQ's half-message protocol, with the DB as the source of truth)::

    template.send_in_transaction("orders", payload, arg)        # 1. half message stored, invisible
      -> execute_local_transaction(message, arg)                # 2. with transaction.atomic():
             self.run(message, arg)                             #      your DB writes
             TransactionRecord(transaction_id=...)              #      + the proof, same transaction
         COMMIT when the block committed, ROLLBACK when it raised
    broker check-back (the answer was lost: producer killed, timeout)
      -> check_local_transaction(message)                       # 3. the record exists? COMMIT : ROLLBACK

So the message and the DB writes commit or roll back together, even when the producer process
dies between its COMMIT and its answer: any live producer of the same producer group answers the
broker's check-back from the database.

Usage::

    @rocketmq_transaction_listener(producer_group="orders-tx", destinations=["orders"])
    class CreateOrder(DjangoAtomicTransactionListener):
        def run(self, message, arg):
            Order.objects.create(id=message.payload["order_id"], ...)

A record that does not exist is taken as a rolled-back transaction: the local transaction must
finish before the broker's first check (``transactionTimeOut``, 6 s by default). Old records can be
pruned with :meth:`DjangoAtomicTransactionListener.prune`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import close_old_connections, transaction

from broker_core.message.properties import MessageConst
from rocketmq_integration.django.conf import get_config
from rocketmq_integration.django.models import TransactionRecord
from rocketmq_integration.django.signals import transaction_checked
from rocketmq_integration.logging import get_logger
from rocketmq_integration.transactions import LocalTransactionState, TransactionMessage

__all__ = ["DjangoAtomicTransactionListener"]

log = get_logger(__name__)


class DjangoAtomicTransactionListener:
    """Base class: implement :meth:`run`; register with ``@rocketmq_transaction_listener``.

    Attributes:
        using: database alias (``None``: ``ROCKETMQ["TRANSACTIONS"]["DATABASE"]``).
    """

    using: str | None = None

    def db(self) -> str:
        """The database alias in use."""
        return self.using or str(get_config()["TRANSACTIONS"]["DATABASE"])

    def run(self, message: TransactionMessage, arg: Any) -> None:
        """The local transaction's work (runs inside ``transaction.atomic``); raise to roll back."""
        raise NotImplementedError

    def execute_local_transaction(self, message: TransactionMessage, arg: Any) -> LocalTransactionState:
        """Run :meth:`run` and write the record in one ``atomic`` block."""
        if not message.transaction_id:
            raise ValueError("the half message has no transaction id (UNIQ_KEY)")
        db = self.db()
        close_old_connections()
        try:
            with transaction.atomic(using=db):
                self.run(message, arg)
                TransactionRecord.objects.using(db).create(
                    transaction_id=message.transaction_id,
                    producer_group=message.properties.get(MessageConst.PGROUP, ""),
                    topic=message.topic,
                    keys=(message.keys or "")[:255],
                )
        except Exception as exc:
            log.info(
                "local transaction rolled back",
                transaction_id=message.transaction_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            return LocalTransactionState.ROLLBACK
        return LocalTransactionState.COMMIT

    def check_local_transaction(self, message: TransactionMessage) -> LocalTransactionState:
        """COMMIT when the record exists, else ROLLBACK; sends ``transaction_checked``."""
        close_old_connections()
        found = (
            TransactionRecord.objects.using(self.db()).filter(transaction_id=message.transaction_id).exists()
        )
        state = LocalTransactionState.COMMIT if found else LocalTransactionState.ROLLBACK
        log.info("transaction check-back answered", transaction_id=message.transaction_id, state=state.value)
        transaction_checked.send(type(self), message=message, state=state)
        return state

    @classmethod
    def prune(cls, older_than: dt.timedelta, using: str | None = None) -> int:
        """Delete records older than ``older_than`` (keep them longer than the broker checks back:
        ``transactionCheckMax`` × ``transactionCheckInterval``); returns how many."""
        db = using or str(get_config()["TRANSACTIONS"]["DATABASE"])
        cutoff = dt.datetime.now(dt.UTC) - older_than
        deleted, _ = TransactionRecord.objects.using(db).filter(created_at__lt=cutoff).delete()
        return deleted
