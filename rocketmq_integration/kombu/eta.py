"""Celery ETA headers as broker-held timer messages (transport option ``native_eta``).

A message whose ``eta`` header lies more than ``eta_threshold`` seconds ahead is sent with
``TIMER_DELIVER_MS`` and parked by the broker, so no worker holds it (and its lease) until then.
The broker refuses delays beyond its ``timerMaxDelaySec``: such a message is parked for
``timer_max_delay`` and the consumer sends it round again when it arrives early (only messages
that carry the broker's ``TIMER_OUT_MS``, i.e. that a broker really held: a broker without timers
delivers at once and the worker holds the task, as with any other transport).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from broker_core.message.model import Message
from rocketmq_integration.client.timer import deliver_at
from rocketmq_integration.kombu.options import TransportOptions

__all__ = ["TIMER_OUT_MS", "eta_seconds", "schedule_eta"]

#: property a broker adds to a message it held in its timer wheel
TIMER_OUT_MS = "TIMER_OUT_MS"


def schedule_eta(msg: Message, eta: float, options: TransportOptions) -> bool:
    """Make ``msg`` a timer message due at ``eta`` (at most ``timer_max_delay`` ahead: a later
    message is re-sent by the consumer when it arrives, see the feed). False when not needed."""
    now = time.time()
    if eta - now <= options.eta_threshold:
        return False
    deliver_at(msg, min(eta, now + options.timer_max_delay))
    return True


def eta_seconds(value: Any) -> float | None:
    """The epoch time of a Celery ``eta`` header (ISO 8601; naive times are UTC), else None."""
    if not value or not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
