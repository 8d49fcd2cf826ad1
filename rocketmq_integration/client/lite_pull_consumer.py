"""Lite pull consumer (Java ``DefaultLitePullConsumer``): the library pulls, the application polls.

Two ways to get queues: :meth:`LitePullConsumer.subscribe` lets the group rebalance queues among
its members (same strategies and NOTIFY handling as the push consumer); :meth:`assign` takes a
fixed list of queues and never rebalances. Either way one background task per queue long-polls
the broker and appends what it gets to a shared buffer; it pauses while its queue has
``pull_threshold_for_queue`` messages buffered (flow control).

:meth:`poll` returns the next buffered batch (or ``[]`` after ``timeout``) and marks it consumed:
the queue's *consumed offset* moves past it. :meth:`commit_sync` stores the consumed offsets on
the broker (the local file for broadcasting); with ``auto_commit`` that happens every
``auto_commit_interval`` and at shutdown. :meth:`seek` restarts a queue at any offset: messages
of that queue still buffered are discarded (each buffered batch remembers the ProcessQueue it was
pulled for, and a seek replaces that ProcessQueue).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from broker_core.errors import MessageDecodeError
from broker_core.message.model import MessageExt, MessageQueue
from broker_core.remoting.body.heartbeat import ConsumerData, SubscriptionData
from rocketmq_integration.client.allocate import AllocateStrategy, allocate_averagely
from rocketmq_integration.client.config import (
    ClientConfig,
    ConsumerConfig,
    MessageModel,
    unique_instance_name,
)
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.offset_store import OffsetStore, open_offset_store
from rocketmq_integration.client.process_queue import ProcessQueue
from rocketmq_integration.client.pull import pull_once
from rocketmq_integration.client.rebalance import Rebalancer, compute_pull_from_where
from rocketmq_integration.client.results import PullStatus
from rocketmq_integration.client.sending import now_ms
from rocketmq_integration.client.validation import ServiceState, check_group, check_topic
from rocketmq_integration.errors import ClientError, MQClientError
from rocketmq_integration.logging import get_logger

__all__ = ["LitePullConsumer"]

log = get_logger(__name__)


class LitePullConsumer:
    """Poll-style consumer; see the module docstring."""

    def __init__(
        self,
        group: str,
        *,
        namesrv_addr: str | None = None,
        client_config: ClientConfig | None = None,
        config: ConsumerConfig | None = None,
        auto_commit: bool = True,
        auto_commit_interval: float = 5.0,
        allocate_strategy: AllocateStrategy = allocate_averagely,
    ) -> None:
        check_group(group)
        cc = client_config or ClientConfig()
        self.client_config = dataclasses.replace(cc, namesrv_addr=namesrv_addr) if namesrv_addr else cc
        self.config = dataclasses.replace(config or ConsumerConfig(), group=group)
        self.auto_commit = auto_commit
        self.auto_commit_interval = auto_commit_interval
        self.allocate_strategy = allocate_strategy
        self.state = ServiceState.CREATE_JUST
        self._subs: dict[str, SubscriptionData] = {}
        self._assigned: list[MessageQueue] | None = None
        self._client: MQClientInstance | None = None
        self._store: OffsetStore | None = None
        self._rebalancer: Rebalancer | None = None
        self._queues: dict[MessageQueue, ProcessQueue] = {}
        self._tasks: dict[MessageQueue, asyncio.Task[None]] = {}
        self._consumed: dict[MessageQueue, int] = {}
        self._buffer: asyncio.Queue[tuple[MessageQueue, ProcessQueue, list[MessageExt]]] = asyncio.Queue()
        self._timers: list[asyncio.Task[None]] = []
        self._rebalance_event = asyncio.Event()
        self._log = log.bind(group=group)

    @property
    def group(self) -> str:
        return self.config.group

    # ------------------------------------------------------------------ ConsumerMember
    def consumer_data(self) -> ConsumerData:
        return ConsumerData(
            group_name=self.group, consume_type="CONSUME_ACTIVELY",
            message_model=self.config.message_model.value,
            consume_from_where=self.config.consume_from_where.value,
            subscriptions=list(self._subs.values()),
        )  # fmt: skip

    def subscribed_topics(self) -> list[str]:
        return list(self._subs)

    def trigger_rebalance(self) -> None:
        self._rebalance_event.set()

    # ----------------------------------------------------------------------- set-up
    def subscribe(self, topic: str, expression: str = "*") -> None:
        """Consume ``topic`` with queues shared among the group (exclusive with :meth:`assign`)."""
        check_topic(topic)
        if self._assigned is not None:
            raise MQClientError("subscribe() and assign() cannot be mixed")
        self._subs[topic] = SubscriptionData.build(topic, expression, now_ms())
        self.trigger_rebalance()

    async def assign(self, mqs: list[MessageQueue], expression: str = "*") -> None:
        """Consume exactly ``mqs`` (no rebalance); may be called again to change the set."""
        if self._subs and self._assigned is None:
            raise MQClientError("subscribe() and assign() cannot be mixed")
        self._assigned = sorted(set(mqs))
        for mq in self._assigned:
            self._subs.setdefault(mq.topic, SubscriptionData.build(mq.topic, expression, now_ms()))
        if self.state is ServiceState.RUNNING:
            await self._apply_assignment()

    async def fetch_message_queues(self, topic: str) -> list[MessageQueue]:
        client = self._running()
        await client.update_route(topic)
        return sorted(client.subscribe_queues(topic) or [])

    def assignment(self) -> list[MessageQueue]:
        return sorted(self._queues)

    def _running(self) -> MQClientInstance:
        self.state.ensure_running(f"lite pull consumer {self.group}")
        assert self._client is not None
        return self._client

    # ---------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self.state is not ServiceState.CREATE_JUST:
            raise MQClientError(f"lite pull consumer {self.group} was already started")
        clustering = self.config.message_model is MessageModel.CLUSTERING
        client = MQClientInstance.acquire(self.client_config, unique_instance_name())
        try:
            client.register_consumer(self)
        except MQClientError:
            await client.release()
            raise
        self._client = client
        self._store = await open_offset_store(
            client, self.group, clustering=clustering, local_dir=self.config.offset_store_dir
        )
        self.state = ServiceState.RUNNING
        for topic in list(self._subs):
            with contextlib.suppress(ClientError):
                await client.update_route(topic)
        await client.send_heartbeat_to_all_brokers()
        if self._assigned is not None:
            await self._apply_assignment()
        else:
            self._rebalancer = Rebalancer(
                client, self.config, self._store, self.allocate_strategy, self._add, self._remove
            )
            self._timers.append(
                asyncio.create_task(self._rebalance_loop(), name=f"rmq-lite-rebalance-{self.group}")
            )
        if self.auto_commit:
            self._timers.append(
                asyncio.create_task(self._commit_loop(), name=f"rmq-lite-commit-{self.group}")
            )

    async def shutdown(self) -> None:
        if self.state is not ServiceState.RUNNING:
            self.state = ServiceState.SHUTDOWN_ALREADY
            return
        for t in self._timers:
            t.cancel()
        for t in self._timers:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for mq in list(self._queues):
            await self._stop_queue(mq)
        if self.auto_commit:
            await self.commit_sync()
        self.state = ServiceState.SHUTDOWN_ALREADY
        client, self._client = self._client, None
        assert client is not None
        await client.unregister(consumer_group=self.group)
        await client.release()

    async def __aenter__(self) -> LitePullConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------- consuming
    async def poll(self, timeout: float = 5.0) -> list[MessageExt]:
        """The next pulled batch (marked consumed), or ``[]`` if nothing arrived within ``timeout``."""
        self._running()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    mq, pq, msgs = await self._buffer.get()
            except TimeoutError:
                return []
            if pq.dropped or self._queues.get(mq) is not pq:
                continue  # seeked or reassigned meanwhile
            offset = pq.remove(msgs)
            if offset >= 0:
                self._consumed[mq] = offset
            return msgs

    async def commit_sync(self) -> None:
        """Store the consumed offset of every queue (broker or local file), waiting for the answer."""
        store = self._store
        if store is None:
            return
        for mq, offset in self._consumed.items():
            store.update(mq, offset, increase_only=False)
        await store.persist_all(list(self._consumed), sync=True)

    async def committed(self, mq: MessageQueue) -> int:
        """The stored offset of ``mq`` (-1 if none)."""
        assert self._store is not None
        return await self._store.read_stored(mq)

    async def seek(self, mq: MessageQueue, offset: int) -> None:
        """Consume ``mq`` from ``offset`` on; buffered messages of ``mq`` are discarded."""
        if mq not in self._queues:
            raise MQClientError(f"{mq} is not assigned to this consumer")
        await self._stop_queue(mq, forget=False)
        self._consumed[mq] = offset
        self._start_queue(mq, offset)

    async def seek_to_begin(self, mq: MessageQueue) -> None:
        client = self._running()
        addr = client.broker_addr(mq.broker_name)
        if addr is None:
            raise MQClientError(f"broker {mq.broker_name} unknown")
        await self.seek(mq, await client.api.get_min_offset(addr, mq))

    # ------------------------------------------------------------------- internals
    async def _apply_assignment(self) -> None:
        client, store = self._running(), self._store
        assert self._assigned is not None and store is not None
        wanted = set(self._assigned)
        for mq in [mq for mq in self._queues if mq not in wanted]:
            await self._stop_queue(mq)
        for mq in sorted(wanted - self._queues.keys()):
            await client.update_route(mq.topic)
            offset = await compute_pull_from_where(client, store, self.config, mq)
            self._start_queue(mq, offset)

    def _start_queue(self, mq: MessageQueue, offset: int) -> ProcessQueue:
        pq = ProcessQueue()
        self._add(mq, pq, offset)
        return pq

    def _add(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        self._queues[mq] = pq
        self._tasks[mq] = asyncio.create_task(self._pull_loop(mq, pq, offset), name=f"rmq-lite-pull-{mq}")

    async def _remove(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        await self._stop_queue(mq)

    async def _stop_queue(self, mq: MessageQueue, *, forget: bool = True) -> None:
        pq = self._queues.pop(mq, None)
        if pq is not None:
            pq.drop()
        task = self._tasks.pop(mq, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if forget and mq in self._consumed and self._store is not None:
            self._store.update(mq, self._consumed.pop(mq), increase_only=False)
            with contextlib.suppress(ClientError):
                await self._store.persist(mq)
            self._store.remove(mq)

    async def _pull_loop(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        client, cfg = self._running(), self.config
        while not pq.dropped:
            if pq.cached_count >= cfg.pull_threshold_for_queue:
                await pq.wait_for_space(1.0)
                continue
            sub = self._subs.get(mq.topic) or SubscriptionData.build(mq.topic, "*", 0)
            try:
                result = await pull_once(
                    client, group=self.group, mq=mq, sub=sub, offset=offset, max_nums=cfg.pull_batch_size,
                    suspend_timeout=cfg.broker_suspend_max_time, timeout=cfg.consumer_timeout_when_suspend,
                )  # fmt: skip
            except (ClientError, MessageDecodeError) as exc:
                self._log.warning("pull failed", mq=str(mq), error=str(exc))
                await asyncio.sleep(self.client_config.pull_time_delay_when_exception)
                continue
            if pq.dropped:
                return
            offset = result.next_begin_offset
            if result.status is PullStatus.OFFSET_ILLEGAL:
                self._log.warning("pull offset illegal, moving", mq=str(mq), next_offset=offset)
                self._consumed[mq] = offset
            elif result.messages:
                pq.put(result.messages)
                self._buffer.put_nowait((mq, pq, result.messages))

    async def _rebalance_loop(self) -> None:
        assert self._rebalancer is not None
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.rebalance_interval):
                    await self._rebalance_event.wait()
            self._rebalance_event.clear()
            try:
                await self._rebalancer.rebalance(list(self._subs))
            except Exception:
                self._log.exception("rebalance round failed")

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.auto_commit_interval)
            try:
                await self.commit_sync()
            except Exception:
                self._log.exception("auto commit failed")
