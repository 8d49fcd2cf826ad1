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


def dlq_bodies(namesrv_addr: str, group: str, timeout: float = 10.0) -> list[bytes]:
    """Bodies of every message in ``%DLQ%<group>`` (pulled from offset 0: what dead-lettering kept)."""
    import asyncio

    from rocketmq_integration.client.pull_consumer import PullConsumer
    from rocketmq_integration.client.results import PullStatus

    async def pull_all() -> list[bytes]:
        bodies: list[bytes] = []
        async with PullConsumer("kombu_dlq_reader", namesrv_addr=namesrv_addr) as consumer:
            for mq in await consumer.fetch_subscribe_message_queues(f"%DLQ%{group}"):
                offset = 0
                while True:
                    result = await consumer.pull(mq, "*", offset, 32, timeout=timeout)
                    if result.status is not PullStatus.FOUND:
                        break
                    bodies.extend(m.body for m in result.messages)
                    offset = result.next_begin_offset
        return bodies

    return asyncio.run(pull_all())
