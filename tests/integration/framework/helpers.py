"""Shared payload types and helpers of the framework end-to-end tests."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from typing import Any

from broker_core.message.model import MessageQueue
from rocketmq_integration.client import Admin


@dataclasses.dataclass(frozen=True)
class Order:
    order_id: int
    amount: str
    at: dt.datetime


def new_topic(cluster: Any, prefix: str, queues: int = 4) -> str:
    return str(cluster.create_topic(cluster.unique(prefix), queues))


def dlq_count(cluster: Any, group: str, expected: int, timeout: float = 30.0) -> int:
    """Poll the ``%DLQ%<group>`` max offset until it reaches ``expected`` (the DLQ is written by
    the broker asynchronously to our consumer; there is no event to await from here)."""

    async def go() -> int:
        topic = f"%DLQ%{group}"
        deadline = time.monotonic() + timeout
        async with Admin(cluster.namesrv_addr) as admin:
            total = 0
            while time.monotonic() < deadline:
                try:
                    mqs: list[MessageQueue] = await admin.message_queues(topic)
                    total = sum([await admin.get_max_offset(mq) for mq in mqs])
                except Exception:
                    total = 0
                if total >= expected:
                    return total
                await asyncio.sleep(0.2)
            return total

    return asyncio.run(go())
