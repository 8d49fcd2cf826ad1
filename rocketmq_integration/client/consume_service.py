"""Runs the user's listener on pulled messages (concurrent mode) and settles the results.

A listener is ``async def fn(msgs) -> ConsumeResult`` or a plain function returning one; plain
functions run on a private thread pool of ``consume_thread_max`` threads, and at most
``consume_thread_max`` listener calls run at once either way. An exception or a ``None`` result
counts as RECONSUME_LATER.

Settling (storage spec §3.9): SUCCESS removes the batch from the ProcessQueue and moves the
in-memory commit offset. RECONSUME_LATER in clustering mode sends each message back with
CONSUMER_SEND_MSG_BACK (delay level 0: the broker picks ``3 + reconsumeTimes``), falling back to a
direct send to ``%RETRY%<group>`` (see ``send_back``); messages for which both failed stay cached
and are consumed again locally after ``local_retry_delay``. In broadcasting mode failed messages
are logged and dropped, as the Java client does.

Consume timeout: every call marks its messages with a start time in the ProcessQueue;
:meth:`ConcurrentConsumeService.clean_expired` (run periodically by the consumer) sends back
messages whose call has been running longer than ``consume_timeout`` minutes and releases them, so
one hung listener call cannot hold a queue's commit offset (and, through the max-span flow
control, its pulling) for ever.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeAlias

from broker_core.message.model import MessageExt, MessageQueue
from broker_core.message.namespace import unwrap as unwrap_namespace
from broker_core.message.properties import MessageConst
from broker_core.message.trace import ConsumeReturnType
from rocketmq_integration.client.config import ConsumerConfig, ListenerKind, MessageModel
from rocketmq_integration.client.offset_store import OffsetStore
from rocketmq_integration.client.process_queue import ProcessQueue
from rocketmq_integration.client.results import ConsumeResult, ListenerResult, as_consume_result
from rocketmq_integration.client.send_back import SendBack
from rocketmq_integration.client.validation import retry_topic
from rocketmq_integration.logging import bound_context, get_logger

if TYPE_CHECKING:
    from rocketmq_integration.client.metrics import ConsumeRecorder
    from rocketmq_integration.client.trace import TraceDispatcher

__all__ = ["ConcurrentConsumeService", "Listener", "ListenerAdapter"]

log = get_logger(__name__)

Listener: TypeAlias = Callable[[list[MessageExt]], "Awaitable[ListenerResult] | ListenerResult"]


class ListenerAdapter:
    """Calls an async or sync listener uniformly, bounded to ``max_concurrency`` calls at once."""

    def __init__(
        self, fn: Listener, max_concurrency: int, kind: ListenerKind = ListenerKind.CONCURRENTLY
    ) -> None:
        self.fn = fn
        self.kind = kind
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
        )
        self._sem = asyncio.Semaphore(max_concurrency)
        self._pool = (
            None if self.is_async else ThreadPoolExecutor(max_concurrency, thread_name_prefix="rmq-consume")
        )
        #: message-trace hook (SubBefore/SubAfter), set by a consumer with ``enable_msg_trace``
        self.tracer: TraceDispatcher | None = None
        #: (recorder, group, client id) when process metrics are on (:mod:`.metrics`)
        self.recorder: tuple[ConsumeRecorder, str, str] | None = None
        #: the consumer's namespace: stripped from topics while the listener runs
        self.namespace = ""

    async def call(self, msgs: list[MessageExt]) -> ConsumeResult:
        """Run the listener; its verdict as a :class:`ConsumeResult`."""
        return as_consume_result(await self.call_detailed(msgs))

    async def call_detailed(self, msgs: list[MessageExt]) -> ListenerResult:
        """Run the listener; a :class:`SuspendCurrentQueue` it returned is passed through."""
        tracer, rec = self.tracer, self.recorder
        if tracer is None and rec is None:
            return (await self._call(msgs))[0]
        before = tracer.before_consume(msgs) if tracer is not None else None
        started = time.perf_counter()
        result, code = await self._call(msgs)
        ok = code is ConsumeReturnType.SUCCESS
        if tracer is not None:
            tracer.after_consume(before, ok, code)
        if rec is not None and msgs:
            rt = (time.perf_counter() - started) * 1000.0
            rec[0].record(rec[1], msgs[0].topic, rec[2], len(msgs) if ok else 0, 0 if ok else len(msgs), rt)
        return result

    async def _call(self, msgs: list[MessageExt]) -> tuple[ListenerResult, ConsumeReturnType]:
        if not self.namespace:
            return await self._call_listener(msgs)
        # the listener sees plain topic names; the wire names come back for send-back and commits
        wire = [m.topic for m in msgs]
        for m in msgs:
            m.topic = unwrap_namespace(self.namespace, m.topic)
        try:
            return await self._call_listener(msgs)
        finally:
            for m, topic in zip(msgs, wire, strict=True):
                m.topic = topic

    async def _call_listener(self, msgs: list[MessageExt]) -> tuple[ListenerResult, ConsumeReturnType]:
        async with self._sem:
            try:
                if self._pool is None:
                    result = await self.fn(msgs)  # type: ignore[misc]
                else:
                    loop = asyncio.get_running_loop()
                    result = await loop.run_in_executor(self._pool, self.fn, msgs)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "listener raised; messages will be consumed again", msg_ids=[m.msg_id for m in msgs]
                )
                return ConsumeResult.RECONSUME_LATER, ConsumeReturnType.EXCEPTION
        if not isinstance(result, ListenerResult):
            log.warning(
                "listener returned no ConsumeResult; treating as RECONSUME_LATER", result=repr(result)
            )
            return ConsumeResult.RECONSUME_LATER, ConsumeReturnType.RETURNNULL
        ok = result is ConsumeResult.SUCCESS
        return result, ConsumeReturnType.SUCCESS if ok else ConsumeReturnType.FAILED

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class ConcurrentConsumeService:
    """Dispatches cached messages to the listener and settles results; see the module docstring."""

    def __init__(
        self, config: ConsumerConfig, listener: ListenerAdapter, store: OffsetStore, sender: SendBack
    ) -> None:
        self.sender = sender
        self.config = config
        self.listener = listener
        self.store = store
        self._retry_topic = retry_topic(config.group)
        self._tasks: set[asyncio.Task[None]] = set()
        self._delayed: set[asyncio.Task[None]] = set()
        self._log = log.bind(group=config.group)

    def submit(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt], delay: float = 0.0) -> None:
        """Schedule listener calls for ``msgs`` in batches of ``consume_message_batch_max_size``."""
        size = max(1, self.config.consume_message_batch_max_size)
        for i in range(0, len(msgs), size):
            task = asyncio.create_task(self._consume(mq, pq, msgs[i : i + size], delay))
            bucket = self._delayed if delay else self._tasks
            bucket.add(task)
            task.add_done_callback(bucket.discard)

    async def _consume(
        self, mq: MessageQueue, pq: ProcessQueue, batch: list[MessageExt], delay: float
    ) -> None:
        if delay:  # a local retry: wait, then run as an ordinary (awaited-at-shutdown) call
            await asyncio.sleep(delay)
            if not pq.dropped:
                self.submit(mq, pq, batch)
            return
        if pq.dropped:
            return
        for m in batch:
            original = m.properties.get(MessageConst.RETRY_TOPIC)
            if original and m.topic == self._retry_topic:
                m.topic = original
        pq.mark_consuming(batch, time.monotonic())
        with bound_context(group=self.config.group, topic=mq.topic, queue_id=mq.queue_id):
            result = await self.listener.call(batch)
        if pq.dropped:  # rebalanced away meanwhile: the new owner consumes them again
            return
        if result is ConsumeResult.SUCCESS:
            self._commit(mq, pq, batch)
            return
        if self.config.message_model is MessageModel.BROADCASTING:
            self._log.warning("broadcast consume failed, dropping", msg_ids=[m.msg_id for m in batch])
            self._commit(mq, pq, batch)
            return
        failed: list[MessageExt] = []
        for m in batch:
            if not await self._send_back(mq, m):
                m.reconsume_times += 1
                failed.append(m)
        failed_ids = {id(m) for m in failed}
        done = [m for m in batch if id(m) not in failed_ids]
        if done:
            self._commit(mq, pq, done)
        if failed:
            self.submit(mq, pq, failed, self.config.local_retry_delay)

    def _commit(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        offset = pq.remove(msgs)
        if offset >= 0 and not pq.dropped:
            self.store.update(mq, offset, increase_only=True)

    async def _send_back(self, mq: MessageQueue, msg: MessageExt) -> bool:
        return await self.sender.send_back(
            mq, msg, self.config.effective_max_reconsume_times, self.config.send_back_timeout
        )

    async def clean_expired(self, mq: MessageQueue, pq: ProcessQueue) -> int:
        """Send back and release messages whose listener call exceeded ``consume_timeout``."""
        if self.config.message_model is MessageModel.BROADCASTING:
            return 0
        expired = pq.expired(time.monotonic(), self.config.consume_timeout * 60)
        released = 0
        for m in expired:
            if pq.dropped:
                break
            if await self.sender.send_back(
                mq, m, self.config.effective_max_reconsume_times, self.config.send_back_timeout
            ):
                self._log.warning(
                    "consume timeout, message sent back", msg_id=m.msg_id, offset=m.queue_offset
                )
                self._commit(mq, pq, [m])
                released += 1
        return released

    async def wait_idle(self, timeout: float) -> None:
        """Wait for in-flight listener calls; cancel what is still running after ``timeout``.

        Local retries that are still waiting for their delay are cancelled at once (their messages
        were not committed, so they are delivered again after a restart).
        """
        for task in list(self._delayed):
            task.cancel()
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
