"""The test settings with a broken ``ROCKETMQ`` (``manage.py check`` must list ids, not crash)."""

from __future__ import annotations

from tests.django.settings import *  # noqa: F403

ROCKETMQ = {
    "NAME_SERVER": "no-port-here",
    "PRODUCER": {"GROUP": "bad group!", "GRUOP": "x"},
    "CONVERTER": "nope.Missing",
    "OUTBOX": "yes",
}
