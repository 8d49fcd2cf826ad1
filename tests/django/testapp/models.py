"""A model for the transaction tests (no migrations: the test database is created with syncdb)."""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    """An order row written by a local transaction."""

    number = models.CharField(max_length=64, unique=True)
