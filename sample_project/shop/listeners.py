"""The shop's RocketMQ listeners (discovered by the ``rocketmq`` app, run by ``rocketmq_listeners``,
which closes stale DB connections around every message)."""

from __future__ import annotations

import os
import socket
from typing import Any

from django.conf import settings

from rocketmq_integration.django.transactions import DjangoAtomicTransactionListener
from rocketmq_integration.listeners import (
    ConsumeFrom,
    ConsumeMode,
    MessageContext,
    MessageModel,
    SelectorType,
    rocketmq_listener,
)
from rocketmq_integration.transactions import TransactionMessage, rocketmq_transaction_listener
from sample_project.shop import flow


@rocketmq_listener(
    topic=flow.ORDERS_TOPIC, consumer_group="shop_payments", selector_expression="placed",
    consume_mode=ConsumeMode.ORDERLY, consume_from=ConsumeFrom.FIRST_OFFSET,
)  # fmt: skip
def charge_payment(event: dict[str, Any], ctx: MessageContext) -> None:
    """Orders of one id arrive in order (hash key = order id); pay with a transactional message."""
    from rocketmq_integration.django import get_template

    order_id = int(event["order_id"])
    get_template().send_in_transaction(
        f"{flow.PAYMENTS_TOPIC}:completed", {"order_id": order_id, "amount": event["amount"]},
        order_id, producer_group=flow.PAYMENT_TX_GROUP, keys=[f"order-{order_id}"],
    )  # fmt: skip


@rocketmq_transaction_listener(producer_group=flow.PAYMENT_TX_GROUP, destinations=[flow.PAYMENTS_TOPIC])
class PaymentTransaction(DjangoAtomicTransactionListener):
    """The half message ``PaymentCompleted`` commits exactly when the Payment row does."""

    def run(self, message: TransactionMessage, arg: Any) -> None:
        flow.pay(int(arg))


@rocketmq_listener(
    topic=flow.ORDERS_TOPIC, consumer_group="shop_big_orders", selector_type=SelectorType.SQL92,
    selector_expression="amount > 100.0", consume_from=ConsumeFrom.FIRST_OFFSET,
)  # fmt: skip
def review_big_order(event: dict[str, Any], ctx: MessageContext) -> None:
    """Only orders over 100 reach this group: the broker filters on the ``amount`` property.

    The constant is written ``100.0`` because RocketMQ compares a string property with a number by
    converting the string to the constant's type, and ``"150.00"`` is no Java ``long``.
    """
    flow.flag(int(event["order_id"]), str(event["amount"]))


@rocketmq_listener(
    topic=flow.ORDERS_TOPIC, consumer_group="shop_stats_cache", message_model=MessageModel.BROADCASTING,
    consume_from=ConsumeFrom.FIRST_OFFSET, instance_name=settings.SAMPLE_INSTANCE,
)  # fmt: skip
def invalidate_stats(event: dict[str, Any], ctx: MessageContext) -> None:
    flow.invalidate_stats(int(event["order_id"]), f"{socket.gethostname()}:{os.getpid()}")


@rocketmq_listener(
    topic=flow.PAYMENTS_TOPIC, consumer_group="shop_notifications", selector_expression="completed",
    consume_from=ConsumeFrom.FIRST_OFFSET,
)  # fmt: skip
def notify_customer(event: dict[str, Any], ctx: MessageContext) -> None:
    flow.notify(int(event["order_id"]))
