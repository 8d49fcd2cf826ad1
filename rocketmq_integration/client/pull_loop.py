"""The push consumer's per-queue pull loops (Java ``PullMessageService`` + ``pullMessage``).

Every queue the rebalancer assigns gets one task that long-polls the broker (PULL_MESSAGE with
FLAG_SUSPEND, ``broker_suspend_max_time`` hold, ``consumer_timeout_when_suspend`` timeout), puts
what it gets in the queue's :class:`ProcessQueue` and hands it to the consume service. Flow control
happens before each pull: the task waits while more than ``pull_threshold_for_queue`` messages or
``pull_threshold_size_for_queue_mib`` MiB are cached, or (concurrent mode) while the cached offsets
span more than ``consume_concurrently_max_span``; a consume that frees space wakes it.

The loop also carries the broker's answers forward: the next offset, the suggested broker id (a
slave may serve reads), and OFFSET_ILLEGAL corrections, which are stored and committed at once.
Kept out of :mod:`~rocketmq_integration.client.consumer` because it is the one hot path of the
push consumer and depends on nothing but the components the consumer wires together.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from broker_core.errors import MessageDecodeError
from broker_core.message.model import MessageQueue
from broker_core.remoting.body.heartbeat import SubscriptionData
from broker_core.remoting.body.route import MASTER_ID
from broker_core.remoting.codes import RequestCode
from rocketmq_integration.client.config import ClientConfig, ConsumerConfig, MessageModel
from rocketmq_integration.client.consume_service import ConcurrentConsumeService
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.offset_store import OffsetStore
from rocketmq_integration.client.orderly import OrderlyConsumeService
from rocketmq_integration.client.process_queue import ProcessQueue
from rocketmq_integration.client.pull import build_pull_ext_fields, process_pull_response
from rocketmq_integration.client.results import PullStatus
from rocketmq_integration.errors import ClientError

__all__ = ["PullLoops"]


class PullLoops:
    """One pull task per assigned queue; see the module docstring.

    Args:
        client: the shared client instance (routes and the remoting API).
        config: consumer settings (its ``group`` is the pulling group).
        client_config: connection settings (back-off after a failed pull).
        store: the consumer's offset store (commit offset sent with each pull).
        service: where pulled messages go.
        subscriptions: the consumer's live subscription table (read on every pull, so
            ``subscribe``/``unsubscribe`` take effect on the next round).
        stopping: set when the consumer shuts down; ends every loop and cuts back-off sleeps short.
        limit_span: apply ``consume_concurrently_max_span`` (concurrent mode only).
        log: the consumer's bound logger.
    """

    def __init__(
        self,
        client: MQClientInstance,
        config: ConsumerConfig,
        client_config: ClientConfig,
        store: OffsetStore,
        service: ConcurrentConsumeService | OrderlyConsumeService,
        subscriptions: Mapping[str, SubscriptionData],
        stopping: asyncio.Event,
        *,
        limit_span: bool,
        log: Any,
    ) -> None:
        self.client = client
        self.config = config
        self.client_config = client_config
        self.store = store
        self.service = service
        self.subscriptions = subscriptions
        self.stopping = stopping
        self.limit_span = limit_span
        self._log = log
        #: assigned queue -> its pull task
        self._tasks: dict[MessageQueue, asyncio.Task[None]] = {}
        #: (topic, error) pairs already logged at WARNING: the same failure on every queue and
        #: every retry (a broker that cannot serve the subscription, a broker that is down) is
        #: one warning, not several a second; a successful pull of the topic re-arms it
        self._reported: set[tuple[str, str]] = set()

    def start(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        """Start pulling ``mq`` from ``offset``."""
        task = asyncio.create_task(self._run(mq, pq, offset), name=f"rmq-pull-{mq.topic}-{mq.queue_id}")
        self._tasks[mq] = task

    async def stop(self, mq: MessageQueue) -> None:
        """Cancel the queue's pull task and wait until it has ended."""
        task = self._tasks.pop(mq, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def detach_all(self) -> list[asyncio.Task[None]]:
        """Hand every pull task over to the caller (shutdown cancels them with its own tasks)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        return tasks

    def _report_failure(self, plog: Any, topic: str, expression_type: str, error: str) -> None:
        if (topic, error) in self._reported:
            plog.debug("pull failed again", error=error)
            return
        self._reported.add((topic, error))
        if "does not support consumer to filter" in error:
            plog.error(
                f"the broker cannot filter by {expression_type}: set enablePropertyFilter=true in its "
                "broker.conf; retrying (repeats are logged at debug)",
                error=error,
            )
        else:
            plog.warning("pull failed; retrying (repeats are logged at debug)", error=error)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: in 3.11 it can swallow a cancel
                await self.stopping.wait()

    async def _run(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        client, store, service, cfg = self.client, self.store, self.service, self.config
        clustering = cfg.message_model is MessageModel.CLUSTERING
        broker_id = MASTER_ID
        plog = self._log.bind(topic=mq.topic, queue_id=mq.queue_id, broker=mq.broker_name)
        while not pq.dropped and not self.stopping.is_set():
            max_bytes = cfg.pull_threshold_size_for_queue_mib * 1024 * 1024
            if (
                pq.cached_count > cfg.pull_threshold_for_queue
                or pq.cached_bytes > max_bytes
                or (self.limit_span and pq.max_span > cfg.consume_concurrently_max_span)
            ):
                await pq.wait_for_space(1.0)
                continue
            sub = self.subscriptions.get(mq.topic)
            addr = client.broker_addr(mq.broker_name, broker_id)
            if sub is None or addr is None:
                await self._sleep(self.client_config.pull_time_delay_when_exception)
                continue
            commit = store.read_memory(mq) if clustering and broker_id == MASTER_ID else 0
            ext = build_pull_ext_fields(
                group=cfg.group, mq=mq, offset=offset, max_nums=cfg.pull_batch_size, commit_offset=commit,
                suspend_timeout_ms=int(cfg.broker_suspend_max_time * 1000), sub_version=sub.sub_version,
                expression=sub.sub_string,
            )  # fmt: skip
            try:
                resp = await client.api.invoke(
                    addr, client.api.request(RequestCode.PULL_MESSAGE, ext), cfg.consumer_timeout_when_suspend
                )
                result = process_pull_response(resp, sub, addr)
            except (ClientError, MessageDecodeError) as exc:
                self._report_failure(plog, mq.topic, sub.expression_type, str(exc))
                await self._sleep(self.client_config.pull_time_delay_when_exception)
                continue
            if self._reported:
                self._reported = {r for r in self._reported if r[0] != mq.topic}
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
