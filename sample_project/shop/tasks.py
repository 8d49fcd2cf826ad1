"""Celery tasks of the shop (the worker consumes them from RocketMQ through ``rocketmq://``)."""

from __future__ import annotations

from sample_project.celery_app import app
from sample_project.shop import flow


@app.task(name="shop.send_receipt", acks_late=True)
def send_receipt(order_id: int) -> str:
    flow.send_receipt_now(order_id, "the Celery worker")
    return f"receipt for order {order_id}"
