"""Orders, their payment, and an event log of every step of the flow (what the order page shows)."""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    PLACED, PAID, NOTIFIED = "placed", "paid", "notified"
    STATUSES = [(PLACED, "placed"), (PAID, "paid"), (NOTIFIED, "customer notified")]

    customer = models.CharField(max_length=100)
    item = models.CharField(max_length=100)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=20, choices=STATUSES, default=PLACED)
    flagged = models.BooleanField(default=False, help_text="set by the big-order review (SQL92 listener)")
    receipt_sent = models.BooleanField(default=False, help_text="set by the Celery receipt task")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"order #{self.pk} {self.item} {self.amount} ({self.status})"


class Payment(models.Model):
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="payment")
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    created = models.DateTimeField(auto_now_add=True)


class OrderEvent(models.Model):
    """One step of an order's way through the system, recorded by whoever did it."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    step = models.CharField(max_length=40)
    detail = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
