"""The shop's messaging, one function per step (the listeners and views only call these).

=====================  ===========================================================================
step                   how it travels
=====================  ===========================================================================
order placed           the web request saves the order and publishes ``shop_orders:placed`` with
                       ``send_on_commit`` (nothing is sent if the transaction rolls back), keyed
                       and hashed by order id, with an ``amount`` property for SQL92 filters
payment                listener ``charge_payment`` (ORDERLY per order id) sends
                       ``shop_payments:completed`` as a RocketMQ *transactional* message whose
                       local transaction is a Django ``atomic`` block writing the Payment row
                       (``DjangoAtomicTransactionListener``: check-backs are answered from the DB)
big-order review       listener ``review_big_order``: SQL92 ``amount > 100.0`` on ``shop_orders``
cache invalidation     listener ``invalidate_stats`` (BROADCASTING: every worker drops the cached
                       shop figures)
notification           listener ``notify_customer`` on ``shop_payments``, which queues the Celery
                       task ``send_receipt`` over ``rocketmq://`` (inline when no worker runs)
=====================  ===========================================================================
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from sample_project.shop.models import Order, OrderEvent, Payment

ORDERS_TOPIC = "shop_orders"
PAYMENTS_TOPIC = "shop_payments"
PAYMENT_TX_GROUP = "shop_payment_tx"
STATS_CACHE_KEY = "shop:stats"


def record(order_id: int, step: str, detail: str = "") -> None:
    OrderEvent.objects.create(order_id=order_id, step=step, detail=detail[:200])


def place_order(customer: str, item: str, amount: Decimal) -> Order:
    """Save the order and publish ``OrderPlaced`` once the transaction commits."""
    from rocketmq_integration.django.db import send_on_commit

    with transaction.atomic():
        order = Order.objects.create(customer=customer, item=item, amount=amount)
        record(order.pk, "placed", "saved; OrderPlaced is sent when this transaction commits")
        send_on_commit(
            f"{ORDERS_TOPIC}:placed",
            {"order_id": order.pk, "item": item, "amount": str(amount)},
            keys=[f"order-{order.pk}"],
            headers={"amount": str(amount)},
            hash_key=str(order.pk),
        )
    return order


class AlreadyPaid(Exception):
    """A redelivered OrderPlaced: the order has its payment, so this payment message rolls back."""


def pay(order_id: int) -> None:
    """The local transaction's work for the payment message (runs inside its ``atomic`` block)."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if Payment.objects.filter(order=order).exists():
        raise AlreadyPaid(order_id)
    Payment.objects.create(order=order, amount=order.amount)
    Order.objects.filter(pk=order_id).update(status=Order.PAID)
    record(order_id, "payment", "charged; PaymentCompleted committed with the Payment row")


def flag(order_id: int, amount: str) -> None:
    Order.objects.filter(pk=order_id).update(flagged=True)
    record(order_id, "big-order-review", f"amount {amount} > 100 (SQL92 selector)")


def invalidate_stats(order_id: int, worker: str) -> None:
    cache.delete(STATS_CACHE_KEY)
    record(order_id, "cache-invalidated", f"broadcast copy received by {worker}")


def notify(order_id: int) -> None:
    Order.objects.filter(pk=order_id).update(status=Order.NOTIFIED)
    if settings.SAMPLE_CELERY:
        from sample_project.shop.tasks import send_receipt

        result = send_receipt.delay(order_id)
        record(order_id, "notification", f"customer notified; receipt task {result.id} queued on Celery")
    else:
        record(order_id, "notification", "customer notified; no Celery worker, receipt sent inline")
        send_receipt_now(order_id, "inline")


def send_receipt_now(order_id: int, where: str) -> None:
    Order.objects.filter(pk=order_id).update(receipt_sent=True)
    record(order_id, "receipt", f"receipt sent by {where}")


def stats() -> dict[str, Any]:
    """Shop figures, cached until the next order's broadcast invalidates them."""
    cached = cache.get(STATS_CACHE_KEY)
    if cached is not None:
        return {**cached, "cached": True}
    figures = {
        "orders": Order.objects.count(),
        "paid": Order.objects.exclude(status=Order.PLACED).count(),
        "flagged": Order.objects.filter(flagged=True).count(),
    }
    cache.set(STATS_CACHE_KEY, figures, 300)
    return {**figures, "cached": False}
