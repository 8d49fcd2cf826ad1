"""Async push consumer (Java ``DefaultMQPushConsumer``): subscribe, listen, and let it pull.

Life cycle: :meth:`PushConsumer.start` joins the shared client instance, fetches routes, sends a
heartbeat at once (so the broker knows the group and creates ``%RETRY%<group>``) and rebalances.
Rebalancing runs every ``rebalance_interval`` and immediately when a broker sends
NOTIFY_CONSUMER_IDS_CHANGED or a subscribed topic's queues change. Every assigned queue gets one
pull task (``pull_loop``) that long-polls (PULL_MESSAGE with FLAG_SUSPEND, 15 s hold, 30 s
timeout), caches what it gets in the queue's :class:`ProcessQueue` and hands it to the consume
service. Flow control: the task pauses while more than ``pull_threshold_for_queue`` messages or
``pull_threshold_size_for_queue_mib`` MiB are cached, or (concurrent mode) while the cached
offsets span more than ``consume_concurrently_max_span``; it resumes when a consume frees space.
Periodic upkeep (rebalance, offset persist, lock renewal, consume-timeout sweep) runs as the
tasks of ``consumer_tasks``. :meth:`PushConsumer.send_back` is the public send-back for callers
that choose the delay level themselves (the listener containers).

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
from collections.abc import Coroutine
from typing import Any

from broker_core.message.model import MessageExt, MessageQueue
from broker_core.message.namespace import wrap as wrap_namespace
from broker_core.remoting.body.client_info import ConsumeMessageDirectlyResult, ConsumerRunningInfo
from broker_core.remoting.body.heartbeat import ConsumerData, SubscriptionData
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
from rocketmq_integration.client.consumer_tasks import expire_loop, lock_loop, persist_loop, rebalance_loop
from rocketmq_integration.client.metrics import recorder as consume_metrics_recorder
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.offset_store import OffsetStore, open_offset_store
from rocketmq_integration.client.orderly import OrderlyConsumeService
from rocketmq_integration.client.process_queue import ProcessQueue
from rocketmq_integration.client.pull_loop import PullLoops
from rocketmq_integration.client.queue_locks import QueueLocker
from rocketmq_integration.client.rebalance import AllocateStrategy, Rebalancer, allocate_averagely
from rocketmq_integration.client.send_back import SendBack
from rocketmq_integration.client.sending import now_ms
from rocketmq_integration.client.trace import TraceDispatcher
from rocketmq_integration.client.validation import ServiceState, check_group, check_topic, retry_topic
from rocketmq_integration.errors import ClientError, MQBrokerError, MQClientError, ValidationError
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
        self.namespace = self.client_config.namespace
        self.config = dataclasses.replace(
            config or ConsumerConfig(), group=wrap_namespace(self.namespace, group)
        )
        self.allocate_strategy = allocate_strategy
        self.state = ServiceState.CREATE_JUST
        self._subscriptions: dict[str, SubscriptionData] = {}
        self._listener: Listener | None = None
        self._listener_kind = ListenerKind.CONCURRENTLY
        self._client: MQClientInstance | None = None
        self.tracer: TraceDispatcher | None = None
        self._store: OffsetStore | None = None
        self._service: ConcurrentConsumeService | OrderlyConsumeService | None = None
        self._sender: SendBack | None = None
        self._locker: QueueLocker | None = None
        self._adapter: ListenerAdapter | None = None
        self._rebalancer: Rebalancer | None = None
        self._pullers: PullLoops | None = None
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
        topic = wrap_namespace(self.namespace, topic)
        self._subscriptions[topic] = SubscriptionData.build(
            topic, expression, now_ms(), expression_type.upper()
        )
        if self.state is ServiceState.RUNNING:
            self.trigger_rebalance()

    def unsubscribe(self, topic: str) -> None:
        self._subscriptions.pop(wrap_namespace(self.namespace, topic), None)
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

    async def send_back(self, msg: MessageExt, delay_level: int = 0) -> None:
        """Return ``msg`` to the broker for a later retry (Java ``sendMessageBack(msg, delayLevel)``).

        CONSUMER_SEND_MSG_BACK goes to the broker that stored ``msg`` (its store host): the broker
        copies it into ``%RETRY%<group>`` with ``delay_level`` (0 = ``3 + reconsumeTimes``, -1 =
        straight to ``%DLQ%<group>``). When that request fails, a copy is sent to the retry topic
        through the client's inner producer with the default back-off (see ``send_back``).

        Raises:
            MQClientError: the consumer is not started (or already shut down), or both paths failed.
        """
        sender = self._sender
        if self._client is None or sender is None:
            raise MQClientError(f"consumer {self.group} is not started")
        cfg = self.config
        if not await sender.send_back_to_store_host(
            msg, delay_level, cfg.effective_max_reconsume_times, cfg.send_back_timeout
        ):
            raise MQClientError(f"send back of {msg.msg_id} failed on both paths")

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
        self._store = await open_offset_store(
            client, self.group, clustering=clustering, local_dir=self.config.offset_store_dir
        )
        self._adapter = ListenerAdapter(self._listener, self.config.consume_thread_max, self._listener_kind)
        self._adapter.namespace = self.namespace
        rec = consume_metrics_recorder()
        if rec is not None:
            self._adapter.recorder = (rec, self.group, client.client_id)
        if self.config.enable_msg_trace:
            self.tracer = TraceDispatcher(
                self.client_config, self.group, "CONSUME", self.config.customized_trace_topic
            )
            await self.tracer.start()
            self._adapter.tracer = self.tracer
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
        self._pullers = PullLoops(
            client, self.config, self.client_config, self._store, self._service, self._subscriptions,
            self._stopping, limit_span=self._locker is None, log=self._log,
        )  # fmt: skip
        self.state = ServiceState.RUNNING
        self._start_ms = now_ms()
        for topic in list(self._subscriptions):
            with contextlib.suppress(ClientError):
                await client.update_route(topic)
        await client.send_heartbeat_to_all_brokers()
        try:
            await self._check_client_config(client)
        except BaseException:
            await self.shutdown()
            raise
        self._rebalance_event.set()
        self._start_upkeep(orderly, clustering)
        self._log.info("consumer started", client_id=client.client_id, topics=list(self._subscriptions))

    async def _check_client_config(self, client: MQClientInstance) -> None:
        """Java's ``checkClientInBroker``: a non-TAG subscription must be servable by the brokers
        of its topic (SQL92 needs ``enablePropertyFilter``), else ``start()`` fails here instead of
        every pull failing later. Topics without a route yet are checked by nobody (as in Java)."""
        for topic, sub in self._subscriptions.items():
            if sub.expression_type.upper() == "TAG":
                continue
            for mq in client.subscribe_queues(topic) or ():
                addr = client.broker_addr(mq.broker_name)
                if addr is None:
                    continue
                try:
                    await client.api.check_client_config(addr, client.client_id, self.group, sub)
                except MQBrokerError as exc:
                    hint = (
                        " (set enablePropertyFilter=true in that broker's broker.conf)"
                        if "does not support" in exc.remark
                        else ""
                    )
                    raise MQClientError(
                        f"consumer {self.group}: broker {mq.broker_name} ({addr}) rejects the "
                        f"{sub.expression_type} subscription to {topic} {sub.sub_string!r}: {exc.remark}{hint}"
                    ) from exc
                break  # one broker per topic answers for the expression (as Java checks one)

    def _start_upkeep(self, orderly: bool, clustering: bool) -> None:
        """Start the periodic tasks (see ``consumer_tasks``); ``shutdown`` cancels them."""
        assert self._rebalancer and self._store and self._rebalance_event and self._stopping
        rebalancer, cfg, plog = self._rebalancer, self.config, self._log
        upkeep: list[tuple[str, Coroutine[Any, Any, None]]] = [
            ("rebalance", rebalance_loop(
                rebalancer, self._subscriptions, self._rebalance_event, self._stopping, cfg.rebalance_interval, plog
            )),
            ("persist", persist_loop(
                self._store, rebalancer, self.client_config.persist_consumer_offset_interval, plog
            )),
        ]  # fmt: skip
        if orderly and clustering and self._locker is not None:
            upkeep.append(("lock", lock_loop(self._locker, rebalancer, cfg.lock_renew_interval, plog)))
        if not orderly:
            upkeep.append(("expire", expire_loop(self._service, rebalancer, cfg.consume_timeout, plog)))
        self._tasks = [asyncio.create_task(coro, name=f"rmq-{kind}-{self.group}") for kind, coro in upkeep]

    async def shutdown(self) -> None:
        """Stop pulling, finish in-flight listener calls, commit offsets, unregister. Idempotent."""
        if self.state is not ServiceState.RUNNING:
            self.state = ServiceState.SHUTDOWN_ALREADY
            return
        self.state = ServiceState.SHUTDOWN_ALREADY
        assert self._client and self._store and self._service and self._rebalancer and self._stopping
        self._stopping.set()
        await self._stop_tasks([*self._tasks, *(self._pullers.detach_all() if self._pullers else [])])
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
        if self.tracer is not None:
            await self.tracer.shutdown()
            self.tracer = None
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

    def _on_queue_added(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        assert self._pullers is not None
        if self._locker is not None:  # the rebalancer only adds a queue whose lock was granted
            pq.locked, pq.last_lock_timestamp = True, time.monotonic()
        self._pullers.start(mq, pq, offset)

    async def _on_queue_removed(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        assert self._store is not None and self._pullers is not None
        await self._pullers.stop(mq)
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
