"""Push-consumer feeds: brokers without POP (Apache RocketMQ 4.x) and ordered queues.

When the broker answers POP with REQUEST_CODE_NOT_SUPPORTED (every 4.x broker), or when a queue
is listed in ``ordered_queues``, the queue is read by the client's
:class:`~rocketmq_integration.client.PushConsumer` instead (clustering: the group's workers share
the topic's queues by rebalancing). Each message becomes a listener call that puts it in the
channel's inbox and then *waits for kombu's verdict*:

* ack -> SUCCESS: the push consumer commits the lowest offset still in flight per queue, as
  RocketMQ's push consumer always does; a killed worker's unacked messages (and those after them
  in their queue) are delivered again to the worker that gets the queue next;
* requeue -> RECONSUME_LATER: the message goes back through ``%RETRY%<group>`` with the broker's
  back-off (concurrent) or is retried in place after a short pause (ordered);
* reject -> CONSUMER_SEND_MSG_BACK to ``%DLQ%<group>`` (``dead_letter_on_reject``), then SUCCESS.

Ordered queues use an ORDERLY listener: one message per RocketMQ queue at a time, so messages
sent with the same ordering key (same queue, see ``Channel._put``) are delivered, and the next one
only after the previous one was settled, in send order. The prefetch window bounds the messages
waiting in listener calls, as it bounds POP leases.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from broker_core.message.model import MessageExt
from rocketmq_integration.client.config import ConsumeFromWhere, ConsumerConfig, ListenerKind
from rocketmq_integration.client.consumer import PushConsumer
from rocketmq_integration.client.results import ConsumeResult
from rocketmq_integration.logging import get_logger

if TYPE_CHECKING:
    from rocketmq_integration.kombu.feed import Feed, Source

__all__ = ["PushFeed"]

log = get_logger(__name__)


@dataclass(eq=False)
class PushFeed:
    """The push consumers of one consumed queue (one for its topic, one for exchange topics)."""

    feed: Feed
    queue: str
    sources: list[Source]
    no_ack: bool
    orderly: bool
    consumers: list[PushConsumer] = dataclasses.field(default_factory=list)
    stopped: bool = False

    async def start(self) -> None:
        session = self.feed.session
        opts = session.options
        own = [s for s in self.sources if s.exchange is None]
        broadcast = [s for s in self.sources if s.exchange is not None]
        base = ConsumerConfig(
            consume_thread_max=256,
            pull_batch_size=32,
            consume_timeout=max(1.0, opts.visibility_timeout / 60.0),
            rebalance_interval=5.0,
        )
        plans: list[tuple[str, list[Source], ConsumeFromWhere]] = []
        if own:
            plans.append((own[0].group, own, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET))
        if broadcast:
            plans.append((broadcast[0].group + "_x", broadcast, ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET))
        for group, sources, where in plans:
            consumer = PushConsumer(
                group,
                client_config=session.client_config,
                config=dataclasses.replace(base, consume_from_where=where),
            )
            by_topic = {s.topic: s for s in sources}
            for src in sources:
                consumer.subscribe(src.topic)
            kind = ListenerKind.ORDERLY if self.orderly else ListenerKind.CONCURRENTLY
            consumer.register_listener(self._listener(consumer, by_topic), kind)
            await consumer.start()
            self.consumers.append(consumer)

    async def stop(self) -> None:
        self.stopped = True
        consumers, self.consumers = self.consumers, []
        for consumer in consumers:
            await consumer.shutdown()

    def _listener(
        self, consumer: PushConsumer, by_topic: dict[str, Source]
    ) -> Callable[[list[MessageExt]], Any]:
        feed = self.feed

        async def on_messages(msgs: list[MessageExt]) -> ConsumeResult:
            for msg in msgs:
                src = by_topic.get(msg.topic) or next(iter(by_topic.values()))
                verdict = await self._one(src, msg)
                if verdict == "requeue":
                    return ConsumeResult.RECONSUME_LATER
                if verdict == "reject" and feed.session.options.dead_letter_on_reject:
                    await consumer.send_back(msg, -1)
            return ConsumeResult.SUCCESS

        return on_messages

    async def _one(self, src: Source, msg: MessageExt) -> str:
        feed = self.feed
        if self.stopped:
            return "requeue"
        if self.no_ack:
            feed.accept_pushed(src, msg, None, no_ack=True)
            return "ack"
        await feed.wait_for_capacity()
        settled: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if not feed.accept_pushed(src, msg, settled, no_ack=False):
            return "ack"  # filtered out by the binding's routing-key patterns
        return await settled
