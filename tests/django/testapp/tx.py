"""Transaction listeners of the tests, registered explicitly by :func:`register` (not discovered).

``mode`` in the payload steers :class:`OrderTx`:

* ``"ok"`` — create the order; the block commits.
* ``"fail"`` — create the order, then raise: the block rolls back.
* ``"kill-after-commit"`` — commit, then SIGKILL this process before the answer reaches the broker.
* ``"kill-inside"`` — create the order, then SIGKILL this process inside the open transaction.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from rocketmq_integration.django.transactions import DjangoAtomicTransactionListener
from rocketmq_integration.transactions import (
    LocalTransactionState,
    TransactionMessage,
    default_transaction_registry,
    rocketmq_transaction_listener,
)
from tests.django.testapp.models import Order


class OrderTx(DjangoAtomicTransactionListener):
    """Creates the order named in the payload."""

    def run(self, message: TransactionMessage, arg: Any) -> None:
        Order.objects.create(number=message.payload["order"])
        mode = message.payload["mode"]
        if mode == "fail":
            raise RuntimeError("payment declined")
        if mode == "kill-inside":
            os.kill(os.getpid(), signal.SIGKILL)

    def execute_local_transaction(self, message: TransactionMessage, arg: Any) -> LocalTransactionState:
        state = super().execute_local_transaction(message, arg)
        if message.payload["mode"] == "kill-after-commit":
            os.kill(os.getpid(), signal.SIGKILL)
        return state


def register(producer_group: str, topic: str) -> None:
    """Register :class:`OrderTx` for ``producer_group`` sending to ``topic``."""
    default_transaction_registry.unregister(producer_group)
    rocketmq_transaction_listener(producer_group=producer_group, destinations=[topic])(OrderTx)
