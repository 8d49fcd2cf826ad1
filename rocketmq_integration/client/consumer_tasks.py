"""The push consumer's periodic upkeep tasks: rebalance, offset persist, lock renewal, consume timeout.

Each is a plain coroutine the consumer starts as a task in ``start`` and cancels in ``shutdown``;
each survives a failed round (logged) so that one broker hiccup does not stop the upkeep for good.
The rebalance loop awaits its trigger event (set by NOTIFY_CONSUMER_IDS_CHANGED, a route change or
``subscribe``) with ``rebalance_interval`` as the upper bound between rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from broker_core.remoting.body.heartbeat import SubscriptionData
from rocketmq_integration.client.consume_service import ConcurrentConsumeService
from rocketmq_integration.client.offset_store import OffsetStore
from rocketmq_integration.client.orderly import OrderlyConsumeService
from rocketmq_integration.client.queue_locks import QueueLocker
from rocketmq_integration.client.rebalance import Rebalancer

__all__ = ["expire_loop", "lock_loop", "persist_loop", "rebalance_loop"]


async def rebalance_loop(
    rebalancer: Rebalancer,
    subscriptions: Mapping[str, SubscriptionData],
    trigger: asyncio.Event,
    stopping: asyncio.Event,
    interval: float,
    log: Any,
) -> None:
    """Rebalance on ``trigger`` or every ``interval`` seconds until ``stopping`` is set."""
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await trigger.wait()
        trigger.clear()
        if stopping.is_set():
            return
        try:
            await rebalancer.rebalance(list(subscriptions))
        except Exception:  # keep the loop alive
            log.exception("rebalance round failed")


async def persist_loop(store: OffsetStore, rebalancer: Rebalancer, interval: float, log: Any) -> None:
    """Commit the assigned queues' offsets every ``interval`` seconds."""
    while True:
        await asyncio.sleep(interval)
        try:
            await store.persist_all(list(rebalancer.table))
        except Exception:
            log.exception("offset persist failed")


async def lock_loop(locker: QueueLocker, rebalancer: Rebalancer, interval: float, log: Any) -> None:
    """Renew the broker locks of the assigned queues (orderly, clustering) every ``interval`` seconds."""
    while True:
        await asyncio.sleep(interval)
        try:
            await locker.lock_all(rebalancer.table)
        except Exception:
            log.exception("lock renewal round failed")


async def expire_loop(
    service: ConcurrentConsumeService | OrderlyConsumeService | None,
    rebalancer: Rebalancer,
    consume_timeout_minutes: float,
    log: Any,
) -> None:
    """Consume-timeout sweep, every quarter of the timeout (at most once a minute)."""
    period = min(60.0, consume_timeout_minutes * 60 / 4)
    while True:
        await asyncio.sleep(period)
        if not isinstance(service, ConcurrentConsumeService):
            return
        for mq, pq in list(rebalancer.table.items()):
            try:
                await service.clean_expired(mq, pq)
            except Exception:
                log.exception("consume timeout sweep failed", mq=str(mq))
