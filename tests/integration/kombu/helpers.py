"""Helpers of the kombu-transport tests that work on any broker (ours, or Apache 4.x)."""

from __future__ import annotations

import time
from typing import Any


def dlq_size(channel: Any, queue: str) -> int:
    """Messages in the dead-letter queue of ``queue``'s consumer group (offsets only: any broker)."""
    group = channel.queue_group(queue)
    return int(channel._run(channel.session.backlog("kombu_dlq_probe", f"%DLQ%{group}")))


def wait_dlq(channel: Any, queue: str, n: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while (size := dlq_size(channel, queue)) < n and time.monotonic() < deadline:
        time.sleep(0.1)  # the broker writes the DLQ asynchronously; there is no event to await
    return size


#: how long a requeued message may take to come back: at once with POP, after the broker's retry
#: back-off (delay level 3, 10 s) on a 4.x broker
REQUEUE_TIMEOUT = 30.0
