"""Pull-style receive / ack through the template, on the broker's POP protocol.

The broker keeps the consume position: :meth:`ReceiveOps.receive` leases messages for an
invisible duration, :meth:`ReceiveOps.ack` settles one, unacknowledged messages come back after the
lease runs out. One :class:`PopConsumer` per (group, topic, expression), started on first use on
the template's loop and shut down by ``close``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from broker_core.message.model import MessageExt
from rocketmq_integration.client.pop_consumer import PopConsumer
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.converters import CONTENT_TYPE_PROPERTY
from rocketmq_integration.template.core import TemplateCore

__all__ = ["ReceiveOps", "ReceivedMessage"]


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message leased by :meth:`RocketMQTemplate.receive`; ack it before ``invisible_duration``
    runs out or it is delivered again."""

    payload: Any
    message: MessageExt
    receipt_handle: str
    group: str
    topic: str
    expression: str

    @property
    def msg_id(self) -> str:
        """The client msg id."""
        return self.message.msg_id


class ReceiveOps(TemplateCore):
    """The POP receive/ack methods of :class:`~rocketmq_integration.template.RocketMQTemplate`."""

    async def _pop_consumer(self, group: str, topic: str, expression: str) -> PopConsumer:
        key = (group, topic, expression)
        consumer = self._pop_consumers.get(key)
        if consumer is None:
            consumer = PopConsumer(
                group,
                topic,
                namesrv_addr=self.namesrv_addr,
                expression=expression,
                client_config=self.client_config,
            )
            await consumer.start()
            self._pop_consumers[key] = consumer
        return consumer

    def receive(
        self,
        topic: str,
        *,
        group: str,
        expression: str = "*",
        max_messages: int = 16,
        invisible_duration: float = 30.0,
        wait: float = 5.0,
        payload_type: Any = None,
    ) -> list[ReceivedMessage]:
        """Lease up to ``max_messages`` (long-polling up to ``wait`` s); each must be :meth:`ack` ed.

        Uses the broker's POP protocol: the broker keeps the position, unacknowledged messages come
        back after ``invisible_duration``. Payloads are converted to ``payload_type``.
        """

        async def go(_p: Producer) -> list[ReceivedMessage]:
            consumer = await self._pop_consumer(group, topic, expression)
            popped = await consumer.receive(max_messages, invisible_duration, wait)
            return [
                ReceivedMessage(
                    self.converter.from_message(
                        m.body, m.properties.get(CONTENT_TYPE_PROPERTY), payload_type
                    ),
                    m,
                    handle,
                    group,
                    topic,
                    expression,
                )  # fmt: skip
                for m, handle in popped
            ]

        return self._wait(go, wait + 10.0)

    def ack(self, received: ReceivedMessage) -> None:
        """Acknowledge a received message (MQBrokerError if its lease already expired)."""

        async def go(_p: Producer) -> None:
            consumer = await self._pop_consumer(received.group, received.topic, received.expression)
            await consumer.ack(received.receipt_handle)

        self._wait(go, None)

    def change_invisible_duration(self, received: ReceivedMessage, duration: float) -> ReceivedMessage:
        """Extend (or shorten; 0 = redeliver now) the lease; returns the message with its new handle."""

        async def go(_p: Producer) -> ReceivedMessage:
            consumer = await self._pop_consumer(received.group, received.topic, received.expression)
            handle = await consumer.change_invisible_time(received.receipt_handle, duration)
            return replace(received, receipt_handle=handle)

        return self._wait(go, None)
