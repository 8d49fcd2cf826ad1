"""Async push consumer (Java ``DefaultMQPushConsumer``): subscribe, listen, and let it pull.

Life cycle: :meth:`PushConsumer.start` joins the shared client instance, fetches routes, sends a
heartbeat at once (so the broker knows the group and creates ``%RETRY%<group>``) and rebalances.
Rebalancing runs every ``rebalance_interval`` and immediately when a broker sends
NOTIFY_CONSUMER_IDS_CHANGED or a subscribed topic's queues change. Every assigned queue gets one
pull task that long-polls (PULL_MESSAGE with FLAG_SUSPEND, 15 s hold, 30 s timeout), caches what it
gets in the queue's :class:`ProcessQueue` and hands it to the consume service. Flow control: the
task pauses while more than ``pull_threshold_for_queue`` messages or
``pull_threshold_size_for_queue_mib`` MiB are cached, or (concurrent mode) while the cached
offsets span more than ``consume_concurrently_max_span``; it resumes when a consume frees space.

ORDERLY listeners use :class:`~rocketmq_integration.client.orderly.OrderlyConsumeService`; in
clustering mode queues are locked on the broker before they are pulled (see ``queue_locks``).

:meth:`PushConsumer.shutdown` stops pulling, waits for in-flight listener calls, commits offsets
synchronously and unregisters the client from every broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

from broker_core.errors import MessageDecodeError
from broker_core.message.model import MessageExt, MessageQueue
from broker_core.remoting.body.client_info import ConsumeMessageDirectlyResult, ConsumerRunningInfo
from broker_core.remoting.body.heartbeat import ConsumerData, SubscriptionData
from broker_core.remoting.body.route import MASTER_ID
from broker_core.remoting.codes import RequestCode
from rocketmq_integration.client.client_handlers import build_running_info, consume_directly
from rocketmq_integration.client.config import (
    DEFAULT_INSTANCE_NAME,
    ClientConfig,
    ConsumerConfig,
    ListenerKind,
    MessageModel,
    unique_instance_name,
)
from rocketmq_integration.client.consume_service import ConcurrentConsumeService, Listener, ListenerAdapter
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.offset_store import (
    LocalFileOffsetStore,
    OffsetStore,
    RemoteBrokerOffsetStore,
)
from rocketmq_integration.client.orderly import OrderlyConsumeService
from rocketmq_integration.client.process_queue import ProcessQueue
from rocketmq_integration.client.pull import build_pull_ext_fields, process_pull_response
from rocketmq_integration.client.queue_locks import QueueLocker
from rocketmq_integration.client.rebalance import AllocateStrategy, Rebalancer, allocate_averagely
from rocketmq_integration.client.results import PullStatus
from rocketmq_integration.client.send_back import SendBack
from rocketmq_integration.client.sending import now_ms
from rocketmq_integration.client.validation import ServiceState, check_group, check_topic, retry_topic
from rocketmq_integration.errors import ClientError, MQClientError, ValidationError
from rocketmq_integration.logging import get_logger

__all__ = ["PushConsumer"]

log = get_logger(__name__)


class PushConsumer:
    """Async push consumer; see the module docstring.

    Args:
        group: consumer group.
        namesrv_addr: overrides ``client_config.namesrv_addr``.
        client_config: connection settings.
        config: consumer settings (its ``group`` is replaced by ``group``).
        allocate_strategy: clustering allocation (default: averagely).
    """

    def __init__(
        self,
        group: str,
        *,
        namesrv_addr: str | None = None,
        client_config: ClientConfig | None = None,
        config: ConsumerConfig | None = None,
        allocate_strategy: AllocateStrategy = allocate_averagely,
    ) -> None:
        check_group(group)
        cc = client_config or ClientConfig()
        self.client_config = dataclasses.replace(cc, namesrv_addr=namesrv_addr) if namesrv_addr else cc
        self.config = dataclasses.replace(config or ConsumerConfig(), group=group)
        self.allocate_strategy = allocate_strategy
        self.state = ServiceState.CREATE_JUST
        self._subscriptions: dict[str, SubscriptionData] = {}
        self._listener: Listener | None = None
        self._listener_kind = ListenerKind.CONCURRENTLY
        self._client: MQClientInstance | None = None
        self._store: OffsetStore | None = None
        self._service: ConcurrentConsumeService | OrderlyConsumeService | None = None
        self._sender: SendBack | None = None
        self._locker: QueueLocker | None = None
        self._adapter: ListenerAdapter | None = None
        self._rebalancer: Rebalancer | None = None
        self._pull_tasks: dict[MessageQueue, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._rebalance_event: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._start_ms = 0
        self._log = log.bind(group=group)

    # ------------------------------------------------------------------ configuration API

    @property
    def group(self) -> str:
        return self.config.group

    @property
    def client_id(self) -> str:
        if self._client is None:
            raise MQClientError("consumer is not started")
        return self._client.client_id

    def subscribe(self, topic: str, expression: str = "*", expression_type: str = "TAG") -> None:
        """Subscribe to ``topic`` with a TAG expression (``*``, ``a || b``) or, with
        ``expression_type="SQL92"``, a property selector such as ``a BETWEEN 0 AND 3`` (the broker
        needs ``enablePropertyFilter=true``)."""
        check_topic(topic)
        self._subscriptions[topic] = SubscriptionData.build(
            topic, expression, now_ms(), expression_type.upper()
        )
        if self.state is ServiceState.RUNNING:
            self.trigger_rebalance()

    def unsubscribe(self, topic: str) -> None:
        self._subscriptions.pop(topic, None)
        if self.state is ServiceState.RUNNING:
            self.trigger_rebalance()

    def register_listener(self, fn: Listener, kind: ListenerKind = ListenerKind.CONCURRENTLY) -> None:
        """Set the listener: ``async def fn(msgs) -> ConsumeResult`` or a sync function (thread pool)."""
        if self.state is not ServiceState.CREATE_JUST:
            raise MQClientError("register the listener before start()")
        self._listener = fn
        self._listener_kind = kind

    def assigned_queues(self) -> list[MessageQueue]:
        """Queues this consumer currently pulls (sorted)."""
        return sorted(self._rebalancer.table) if self._rebalancer else []

    def process_queues(self) -> dict[MessageQueue, ProcessQueue]:
        """A snapshot of the assigned queues' caches (flow control state, running info)."""
        return dict(self._rebalancer.table) if self._rebalancer else {}

    # ------------------------------------------- broker-forwarded admin requests (client_handlers)

    def running_info(self) -> ConsumerRunningInfo:
        store = self._store
        queues = {
            mq: (pq, store.read_memory(mq) if store else -1) for mq, pq in self.process_queues().items()
        }
        props = {
            "PROP_CONSUMEORDERLY": str(self._listener_kind is ListenerKind.ORDERLY).lower(),
            "PROP_THREADPOOL_CORE_SIZE": str(self.config.consume_thread_max),
            "start_timestamp": str(self._start_ms),
            "pullThresholdForQueue": str(self.config.pull_threshold_for_queue),
            "consumeConcurrentlyMaxSpan": str(self.config.consume_concurrently_max_span),
        }
        return build_running_info(self.consumer_data(), props, queues)

    def consumer_offsets(self, topic: str) -> dict[MessageQueue, int]:
        store = self._store
        return (
            {mq: store.read_memory(mq) for mq in self.process_queues() if mq.topic == topic} if store else {}
        )

    async def reset_offsets(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        """Release the topic's queues, store ``offsets`` and rebalance (RESET_CONSUMER_CLIENT_OFFSET)."""
        if self._rebalancer is None or self._store is None:
            return
        for mq in [mq for mq in self._rebalancer.table if mq.topic == topic]:
            await self._rebalancer.release(mq)
        for mq, offset in offsets.items():
            self._store.update(mq, offset, increase_only=False)
            try:
                await self._store.persist(mq)
            except ClientError as exc:
                self._log.warning("storing a reset offset failed", mq=str(mq), error=str(exc))
        self.trigger_rebalance()

    async def consume_message_directly(self, msg: MessageExt) -> ConsumeMessageDirectlyResult:
        assert self._listener is not None
        return await consume_directly(self._listener, msg, self._listener_kind is ListenerKind.ORDERLY)

    # --------------------------------------------------------- ConsumerMember protocol

    def consumer_data(self) -> ConsumerData:
        return ConsumerData(
            group_name=self.group,
            consume_type="CONSUME_PASSIVELY",
            message_model=self.config.message_model.value,
            consume_from_where=self.config.consume_from_where.value,
            subscriptions=list(self._subscriptions.values()),
        )

    def subscribed_topics(self) -> list[str]:
        return list(self._subscriptions)

    def trigger_rebalance(self) -> None:
        if self._rebalance_event is not None:
            self._rebalance_event.set()

    # ------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self.state is not ServiceState.CREATE_JUST:
            raise MQClientError(f"consumer {self.group} was already started (state {self.state.value})")
        if self._listener is None:
            raise ValidationError("register a listener before start()")
        if not self._subscriptions:
            raise ValidationError("subscribe to at least one topic before start()")
        clustering = self.config.message_model is MessageModel.CLUSTERING
        if clustering:
            rt = retry_topic(self.group)
            self._subscriptions.setdefault(rt, SubscriptionData.build(rt, "*", now_ms()))
        name = self.client_config.instance_name
        if name == DEFAULT_INSTANCE_NAME and clustering:
            name = unique_instance_name()
        client = MQClientInstance.acquire(self.client_config, name)
        try:
            client.register_consumer(self)
        except MQClientError:
            await client.release()
            raise
        self._client = client
        self._store = (
            RemoteBrokerOffsetStore(client, self.group)
            if clustering
            else LocalFileOffsetStore(self.config.offset_store_dir, client.client_id, self.group)
        )
        await self._store.load()
        self._adapter = ListenerAdapter(self._listener, self.config.consume_thread_max, self._listener_kind)
        self._sender = SendBack(client, self.client_config, self.group)
        orderly = self._listener_kind is ListenerKind.ORDERLY
        if orderly:
            locker = self._locker = QueueLocker(client, self.group)
            self._service = OrderlyConsumeService(
                self.config, self._adapter, self._store, self._sender, locker.lock
            )
        else:
            self._service = ConcurrentConsumeService(self.config, self._adapter, self._store, self._sender)
        self._rebalancer = Rebalancer(
            client,
            self.config,
            self._store,
            self.allocate_strategy,
            self._on_queue_added,
            self._on_queue_removed,
            lock=self._locker.lock if self._locker is not None and clustering else None,
        )
        self._rebalance_event = asyncio.Event()
        self._stopping = asyncio.Event()
        self.state = ServiceState.RUNNING
        self._start_ms = now_ms()
        for topic in list(self._subscriptions):
            with contextlib.suppress(ClientError):
                await client.update_route(topic)
        await client.send_heartbeat_to_all_brokers()
        self._rebalance_event.set()
        self._tasks = [
            asyncio.create_task(self._rebalance_loop(), name=f"rmq-rebalance-{self.group}"),
            asyncio.create_task(self._persist_loop(), name=f"rmq-persist-{self.group}"),
        ]
        if orderly and clustering:
            self._tasks.append(asyncio.create_task(self._lock_loop(), name=f"rmq-lock-{self.group}"))
        if not orderly:
            self._tasks.append(asyncio.create_task(self._expire_loop(), name=f"rmq-expire-{self.group}"))
        self._log.info("consumer started", client_id=client.client_id, topics=list(self._subscriptions))

    async def shutdown(self) -> None:
        """Stop pulling, finish in-flight listener calls, commit offsets, unregister. Idempotent."""
        if self.state is not ServiceState.RUNNING:
            self.state = ServiceState.SHUTDOWN_ALREADY
            return
        self.state = ServiceState.SHUTDOWN_ALREADY
        assert self._client and self._store and self._service and self._rebalancer and self._stopping
        self._stopping.set()
        await self._stop_tasks([*self._tasks, *self._pull_tasks.values()])
        self._pull_tasks.clear()
        for pq in self._rebalancer.table.values() if self._locker is not None else ():
            pq.drop()  # orderly: no new call may start; wait_idle waits for the running ones
        await self._service.wait_idle(self.config.shutdown_timeout)
        await self._store.persist_all(list(self._rebalancer.table), sync=True)
        for pq in self._rebalancer.table.values():
            pq.drop()
        if self._locker is not None and self.config.message_model is MessageModel.CLUSTERING:
            await self._locker.unlock(list(self._rebalancer.table))
        if self._adapter is not None:
            self._adapter.shutdown()
        if self._sender is not None:
            await self._sender.close()
        client, self._client = self._client, None
        await client.unregister(consumer_group=self.group)
        await client.release()
        self._log.info("consumer stopped")

    async def _stop_tasks(self, tasks: list[asyncio.Task[None]]) -> None:
        """Cancel background tasks and wait for them, re-cancelling any that swallowed a cancel."""
        pending = {t for t in tasks if not t.done()}
        for attempt in range(10):
            if not pending:
                return
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=1.0)
            if pending:
                self._log.warning(
                    "tasks still running after cancel", attempt=attempt, tasks=[t.get_name() for t in pending]
                )

    async def __aenter__(self) -> PushConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # ----------------------------------------------------------------------- background

    async def _sleep(self, seconds: float) -> None:
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: in 3.11 it can swallow a cancel
                await self._stopping.wait()

    async def _rebalance_loop(self) -> None:
        assert self._rebalance_event is not None and self._rebalancer is not None and self._stopping
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.rebalance_interval):
                    await self._rebalance_event.wait()
            self._rebalance_event.clear()
            if self._stopping.is_set():
                return
            try:
                await self._rebalancer.rebalance(list(self._subscriptions))
            except Exception:  # keep the loop alive
                self._log.exception("rebalance round failed")

    async def _persist_loop(self) -> None:
        assert self._store is not None and self._rebalancer is not None
        while True:
            await asyncio.sleep(self.client_config.persist_consumer_offset_interval)
            try:
                await self._store.persist_all(list(self._rebalancer.table))
            except Exception:
                self._log.exception("offset persist failed")

    async def _lock_loop(self) -> None:
        assert self._locker is not None and self._rebalancer is not None
        while True:
            await asyncio.sleep(self.config.lock_renew_interval)
            try:
                await self._locker.lock_all(self._rebalancer.table)
            except Exception:
                self._log.exception("lock renewal round failed")

    async def _expire_loop(self) -> None:
        """Consume-timeout sweep, every quarter of the timeout (at most once a minute)."""
        assert self._rebalancer is not None
        period = min(60.0, self.config.consume_timeout * 60 / 4)
        while True:
            await asyncio.sleep(period)
            service = self._service
            if not isinstance(service, ConcurrentConsumeService):
                return
            for mq, pq in list(self._rebalancer.table.items()):
                try:
                    await service.clean_expired(mq, pq)
                except Exception:
                    self._log.exception("consume timeout sweep failed", mq=str(mq))

    def _on_queue_added(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        if self._locker is not None:  # the rebalancer only adds a queue whose lock was granted
            pq.locked, pq.last_lock_timestamp = True, time.monotonic()
        task = asyncio.create_task(self._pull_loop(mq, pq, offset), name=f"rmq-pull-{mq.topic}-{mq.queue_id}")
        self._pull_tasks[mq] = task

    async def _on_queue_removed(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        assert self._store is not None
        task = self._pull_tasks.pop(mq, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        settled = True
        if isinstance(self._service, OrderlyConsumeService):
            settled = await self._service.stop_queue(mq, self.config.shutdown_timeout)
        try:
            await self._store.persist(mq)
        except ClientError as exc:
            self._log.warning("offset commit on queue release failed", mq=str(mq), error=str(exc))
        self._store.remove(mq)
        if self._locker is not None and settled and self.config.message_model is MessageModel.CLUSTERING:
            await self._locker.unlock([mq])

    async def _pull_loop(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        assert self._client and self._store and self._service
        client, store, service, cfg = self._client, self._store, self._service, self.config
        clustering = cfg.message_model is MessageModel.CLUSTERING
        broker_id = MASTER_ID
        plog = self._log.bind(topic=mq.topic, queue_id=mq.queue_id, broker=mq.broker_name)
        while not pq.dropped and self.state is ServiceState.RUNNING:
            max_bytes = cfg.pull_threshold_size_for_queue_mib * 1024 * 1024
            if (
                pq.cached_count > cfg.pull_threshold_for_queue
                or pq.cached_bytes > max_bytes
                or (self._locker is None and pq.max_span > cfg.consume_concurrently_max_span)
            ):
                await pq.wait_for_space(1.0)
                continue
            sub = self._subscriptions.get(mq.topic)
            addr = client.broker_addr(mq.broker_name, broker_id)
            if sub is None or addr is None:
                await self._sleep(self.client_config.pull_time_delay_when_exception)
                continue
            commit = store.read_memory(mq) if clustering and broker_id == MASTER_ID else 0
            ext = build_pull_ext_fields(
                group=self.group, mq=mq, offset=offset, max_nums=cfg.pull_batch_size, commit_offset=commit,
                suspend_timeout_ms=int(cfg.broker_suspend_max_time * 1000), sub_version=sub.sub_version,
                expression=sub.sub_string,
            )  # fmt: skip
            try:
                resp = await client.api.invoke(
                    addr, client.api.request(RequestCode.PULL_MESSAGE, ext), cfg.consumer_timeout_when_suspend
                )
                result = process_pull_response(resp, sub, addr)
            except (ClientError, MessageDecodeError) as exc:
                plog.warning("pull failed", error=str(exc))
                await self._sleep(self.client_config.pull_time_delay_when_exception)
                continue
            if pq.dropped:
                return
            pq.last_pull_timestamp = time.monotonic()
            broker_id = result.suggest_which_broker_id
            if result.status is PullStatus.OFFSET_ILLEGAL:
                plog.warning(
                    "pull offset illegal, moving", offset=offset, next_offset=result.next_begin_offset
                )
                offset = result.next_begin_offset
                store.update(mq, offset, increase_only=False)
                with contextlib.suppress(ClientError):
                    await store.persist(mq)
                continue
            offset = result.next_begin_offset
            if result.messages:
                pq.put(result.messages)
                service.submit(mq, pq, result.messages)
            elif pq.cached_count == 0:
                store.update(mq, offset, increase_only=True)
