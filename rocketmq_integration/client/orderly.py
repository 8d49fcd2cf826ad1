"""Orderly consumption (storage spec §3.8): one listener call at a time per queue, in offset order.

Each assigned queue gets one worker task. The worker waits until messages are cached, checks that
this client still holds the queue's broker lock (clustering mode: granted by LOCK_BATCH_MQ and
renewed every ``lock_renew_interval``; a lease not renewed for ``lock_expire`` seconds is treated
as lost, well before the broker's 60 s), takes the first ``consume_message_batch_max_size`` cached
messages and calls the listener while holding the queue's *consume lock*. Nothing else of that
queue runs until the call is settled, so two batches of one queue never overlap.

Settling: SUCCESS removes the batch and moves the commit offset. A failure (SUSPEND_CURRENT_QUEUE_A_MOMENT,
RECONSUME_LATER, an exception) keeps the batch cached, increments each message's reconsume count
and suspends the queue for ``suspend_current_queue_time`` — or for the ``duration`` of a
:class:`~rocketmq_integration.client.results.SuspendCurrentQueue` the listener returned (Java's
``ConsumeOrderlyContext.setSuspendCurrentQueueTimeMillis``) — before consuming the same messages
again (local retry). A message that already used ``max_reconsume_times`` is sent to ``%RETRY%<group>``
with that count (the broker moves it to ``%DLQ%<group>``) and released, so a poison message cannot
block its queue for ever.

Hand-over: when a queue is dropped, :meth:`OrderlyConsumeService.stop_queue` waits for the consume
lock (the in-flight call and its offset update finish first); only then does the consumer persist
the offset and UNLOCK_BATCH_MQ, so the next owner starts after the last committed message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from broker_core.message.model import MessageExt, MessageQueue
from broker_core.message.properties import MessageConst
from rocketmq_integration.client.config import ConsumerConfig, MessageModel
from rocketmq_integration.client.consume_service import ListenerAdapter
from rocketmq_integration.client.offset_store import OffsetStore
from rocketmq_integration.client.process_queue import ProcessQueue
from rocketmq_integration.client.results import ConsumeResult, SuspendCurrentQueue, as_consume_result
from rocketmq_integration.client.send_back import SendBack
from rocketmq_integration.client.validation import retry_topic
from rocketmq_integration.logging import bound_context, get_logger

__all__ = ["OrderlyConsumeService"]

log = get_logger(__name__)

#: back-off before asking for a lock again that the broker did not grant
RELOCK_DELAY = 0.5


class OrderlyConsumeService:
    """Per-queue sequential consumption; see the module docstring."""

    def __init__(
        self,
        config: ConsumerConfig,
        listener: ListenerAdapter,
        store: OffsetStore,
        sender: SendBack,
        lock: Callable[[MessageQueue], Awaitable[bool]],
    ) -> None:
        self.config = config
        self.listener = listener
        self.store = store
        self.sender = sender
        self._lock = lock
        self._clustering = config.message_model is MessageModel.CLUSTERING
        self._retry_topic = retry_topic(config.group)
        self._workers: dict[MessageQueue, asyncio.Task[None]] = {}
        self._busy: dict[MessageQueue, asyncio.Lock] = {}
        self._log = log.bind(group=config.group)

    def submit(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        """Messages were cached in ``pq``: make sure its worker runs (it reads the cache itself)."""
        task = self._workers.get(mq)
        if task is None or task.done():
            busy = self._busy.setdefault(mq, asyncio.Lock())
            self._workers[mq] = asyncio.create_task(
                self._worker(mq, pq, busy), name=f"rmq-orderly-{mq.topic}-{mq.queue_id}"
            )

    async def stop_queue(self, mq: MessageQueue, timeout: float) -> bool:
        """After ``pq.drop()``: wait for the in-flight call; ``False`` if it outlived ``timeout``."""
        task = self._workers.pop(mq, None)
        busy = self._busy.pop(mq, None)
        ok = True
        if busy is not None:
            try:
                async with asyncio.timeout(timeout):
                    await busy.acquire()
                busy.release()
            except TimeoutError:
                ok = False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return ok

    async def wait_idle(self, timeout: float) -> None:
        await asyncio.gather(*(self.stop_queue(mq, timeout) for mq in list(self._workers)))

    def _lock_valid(self, pq: ProcessQueue) -> bool:
        if not self._clustering:
            return True
        return pq.locked and not pq.is_lock_expired(time.monotonic(), self.config.lock_expire)

    async def _worker(self, mq: MessageQueue, pq: ProcessQueue, busy: asyncio.Lock) -> None:
        while not pq.dropped:
            await pq.wait_for_messages()
            if pq.dropped:
                return
            if not self._lock_valid(pq):
                if await self._lock(mq):
                    pq.locked, pq.last_lock_timestamp = True, time.monotonic()
                else:
                    self._log.info("queue lock lost, not consuming", mq=str(mq))
                    await asyncio.sleep(RELOCK_DELAY)
                continue
            batch = pq.take(max(1, self.config.consume_message_batch_max_size))
            async with busy:
                if pq.dropped or not self._lock_valid(pq):
                    continue
                for m in batch:
                    original = m.properties.get(MessageConst.RETRY_TOPIC)
                    if original and m.topic == self._retry_topic:
                        m.topic = original
                with bound_context(group=self.config.group, topic=mq.topic, queue_id=mq.queue_id):
                    result = await self.listener.call_detailed(batch)
                suspend = await self._settle(mq, pq, batch, as_consume_result(result))
            if suspend:
                pause = (
                    result.duration
                    if isinstance(result, SuspendCurrentQueue)
                    else self.config.suspend_current_queue_time
                )
                await asyncio.sleep(pause)

    async def _settle(
        self, mq: MessageQueue, pq: ProcessQueue, batch: list[MessageExt], result: ConsumeResult
    ) -> bool:
        """Commit or keep ``batch``; returns whether the queue must be suspended."""
        if result is ConsumeResult.SUCCESS:
            self._commit(mq, pq, batch)
            return False
        max_times = self.config.orderly_max_reconsume_times
        released: list[MessageExt] = []
        suspend = False
        for m in batch:
            if self._clustering and m.reconsume_times >= max_times:
                if await self.sender.send_direct(
                    m, max_times, self.config.send_back_timeout, m.reconsume_times
                ):
                    released.append(m)
                    continue
            m.reconsume_times += 1
            suspend = True
        if released:
            self._log.warning(
                "max reconsume times reached, sent to retry/DLQ", msg_ids=[m.msg_id for m in released]
            )
            self._commit(mq, pq, released)
        return suspend

    def _commit(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        # also when dropped meanwhile: stop_queue waits for us, then persists this offset
        offset = pq.remove(msgs)
        if offset >= 0:
            self.store.update(mq, offset, increase_only=True)
