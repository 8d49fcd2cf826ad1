"""Applying an allocation to a consumer (storage spec §3.4, §3.6); strategies live in ``allocate``.

:class:`Rebalancer` owns the consumer's ``MessageQueue -> ProcessQueue`` table. For each subscribed
topic it computes the allocation, drops queues no longer owned (persisting their offset first) and
adds new ones at the offset chosen by consume-from-where; the consumer starts/stops pull tasks from
the ``on_added``/``on_removed`` callbacks. An orderly consumer passes ``lock``: a queue is only
taken once the broker granted its lock (LOCK_BATCH_MQ), otherwise it is retried next round, so a
queue never has two consuming owners while the previous one is still finishing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from broker_core.message.model import MessageQueue
from rocketmq_integration.client.allocate import (
    AllocateStrategy,
    allocate_averagely,
    allocate_averagely_by_circle,
)
from rocketmq_integration.client.config import ConsumeFromWhere, ConsumerConfig, MessageModel
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.offset_store import OffsetStore
from rocketmq_integration.client.process_queue import ProcessQueue
from rocketmq_integration.client.validation import RETRY_GROUP_TOPIC_PREFIX
from rocketmq_integration.errors import ClientError
from rocketmq_integration.logging import get_logger

__all__ = [
    "AllocateStrategy",
    "Rebalancer",
    "allocate_averagely",
    "allocate_averagely_by_circle",
    "compute_pull_from_where",
]

log = get_logger(__name__)


def _timestamp_ms(text: str) -> int:
    if not text:
        return int((time.time() - 30 * 60) * 1000)
    return int(datetime.strptime(text, "%Y%m%d%H%M%S").timestamp() * 1000)


async def compute_pull_from_where(
    client: MQClientInstance, store: OffsetStore, config: ConsumerConfig, mq: MessageQueue
) -> int:
    """Start offset for a newly assigned queue: the stored offset, else per consume-from-where.

    Raises:
        ClientError: the broker could not be asked; the queue is skipped this round.
    """
    stored = await store.read_stored(mq)
    if stored >= 0:
        return stored
    is_retry = mq.topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
    where = config.consume_from_where
    if where is ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET:
        return 0
    addr = client.broker_addr(mq.broker_name)
    if addr is None:
        raise ClientError(f"broker {mq.broker_name} unknown")
    if where is ConsumeFromWhere.CONSUME_FROM_TIMESTAMP:
        if is_retry:
            return await client.api.get_max_offset(addr, mq)
        return await client.api.search_offset(addr, mq, _timestamp_ms(config.consume_timestamp))
    if is_retry:
        return 0
    return await client.api.get_max_offset(addr, mq)


class Rebalancer:
    """Computes and applies the allocation of one consumer; see the module docstring."""

    def __init__(
        self,
        client: MQClientInstance,
        config: ConsumerConfig,
        store: OffsetStore,
        strategy: AllocateStrategy,
        on_added: Callable[[MessageQueue, ProcessQueue, int], None],
        on_removed: Callable[[MessageQueue, ProcessQueue], Awaitable[None]],
        lock: Callable[[MessageQueue], Awaitable[bool]] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.store = store
        self.strategy = strategy
        self.table: dict[MessageQueue, ProcessQueue] = {}
        self._on_added = on_added
        self._on_removed = on_removed
        self._lock = lock
        self._log = log.bind(group=config.group)

    async def rebalance(self, topics: Sequence[str]) -> None:
        """One round over every subscribed topic; then drop queues of topics no longer subscribed."""
        for topic in topics:
            try:
                await self._rebalance_topic(topic)
            except ClientError as exc:
                self._log.warning("rebalance failed", topic=topic, error=str(exc))
        for mq in [mq for mq in self.table if mq.topic not in topics]:
            await self._remove(mq)

    async def _rebalance_topic(self, topic: str) -> None:
        mq_all = self.client.subscribe_queues(topic)
        if mq_all is None:
            await self.client.update_route(topic)
            mq_all = self.client.subscribe_queues(topic)
        if not mq_all:
            self._log.debug("no route for subscribed topic yet", topic=topic)
            return
        if self.config.message_model is MessageModel.BROADCASTING:
            mine = set(mq_all)
        else:
            addr = self.client.any_broker_addr(topic)
            if addr is None:
                return
            cids = await self.client.api.get_consumer_ids(addr, self.config.group)
            mine = set(self.strategy(self.config.group, self.client.client_id, mq_all, cids))
        await self._apply(topic, mine)

    async def _apply(self, topic: str, mine: set[MessageQueue]) -> None:
        for mq in [mq for mq in self.table if mq.topic == topic and mq not in mine]:
            await self._remove(mq)
        for mq in sorted(mine - self.table.keys()):
            if self._lock is not None and not await self._lock(mq):
                self._log.info("queue lock not granted yet, retrying next round", mq=str(mq))
                continue
            if self.config.message_model is MessageModel.CLUSTERING:
                self.store.remove(mq)  # re-read from the broker; a local store keeps its loaded offsets
            try:
                offset = await compute_pull_from_where(self.client, self.store, self.config, mq)
            except ClientError as exc:
                self._log.warning("cannot compute start offset, skipping queue", mq=str(mq), error=str(exc))
                continue
            if mq in self.table:  # a concurrent round added it meanwhile
                continue
            pq = ProcessQueue()
            self.table[mq] = pq
            self._log.info(
                "queue assigned", topic=mq.topic, broker=mq.broker_name, queue_id=mq.queue_id, offset=offset
            )
            self._on_added(mq, pq, offset)

    async def _remove(self, mq: MessageQueue) -> None:
        pq = self.table.pop(mq, None)
        if pq is None:
            return
        pq.drop()
        self._log.info("queue released", topic=mq.topic, broker=mq.broker_name, queue_id=mq.queue_id)
        await self._on_removed(mq, pq)

    async def release(self, mq: MessageQueue) -> None:
        """Drop one queue now (an offset reset); the next round assigns it again."""
        await self._remove(mq)

    async def remove_all(self) -> None:
        for mq in list(self.table):
            await self._remove(mq)
