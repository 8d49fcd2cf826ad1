"""Returning a failed message to the broker for a later retry (storage spec §3.9, remoting §4.7, §6.3).

The preferred path is CONSUMER_SEND_MSG_BACK: the broker copies the stored message into
``%RETRY%<group>`` with delay level ``3 + reconsumeTimes`` (or ``%DLQ%<group>`` past the maximum).
When that request fails (broker busy, old broker, connection trouble) the Java client falls back
to sending a copy of the message itself to ``%RETRY%<group>`` through its inner producer; the
producer moves RECONSUME_TIME / MAX_RECONSUME_TIMES into header fields ``j`` / ``l`` so the broker
can still apply the DLQ rule. Orderly consumers use the direct send only (Java
``ConsumeMessageOrderlyService.sendMessageBack``) once a message exceeded its reconsume budget.

:class:`SendBack` owns that inner producer and starts it on first use.
"""

from __future__ import annotations

import asyncio

from broker_core.message.model import Message, MessageExt, MessageQueue
from broker_core.message.properties import MessageConst
from broker_core.remoting.headers.client import ConsumerSendMsgBackRequestHeader
from rocketmq_integration.client.config import ClientConfig, ProducerConfig
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.validation import retry_topic
from rocketmq_integration.errors import ClientError
from rocketmq_integration.logging import get_logger

__all__ = ["SendBack", "build_retry_message"]

log = get_logger(__name__)

INNER_PRODUCER_GROUP = "CLIENT_INNER_PRODUCER"


def build_retry_message(
    msg: MessageExt, group: str, max_reconsume_times: int, reconsume_times: int
) -> Message:
    """The copy of ``msg`` a client sends to ``%RETRY%<group>`` itself (Java ``sendMessageBack``).

    ``reconsume_times`` is what the broker compares with ``max_reconsume_times`` (DLQ when it is
    not smaller): the concurrent fallback counts this failure (``msg.reconsume_times + 1``), the
    orderly path sends the count it already reached.
    """
    props = dict(msg.properties)
    props.setdefault(MessageConst.ORIGIN_MESSAGE_ID, msg.msg_id)
    props.setdefault(MessageConst.RETRY_TOPIC, msg.topic)
    props[MessageConst.RECONSUME_TIME] = str(reconsume_times)
    props[MessageConst.MAX_RECONSUME_TIMES] = str(max_reconsume_times)
    for key in (MessageConst.MIN_OFFSET, MessageConst.MAX_OFFSET, "TRAN_MSG"):
        props.pop(key, None)
    new = Message(retry_topic(group), msg.body, flag=msg.flag, properties=props)
    new.delay_time_level = 3 + msg.reconsume_times
    return new


class SendBack:
    """Send-back with fallback; see the module docstring."""

    def __init__(self, client: MQClientInstance, client_config: ClientConfig, group: str) -> None:
        self.client = client
        self.client_config = client_config
        self.group = group
        self._producer: Producer | None = None
        self._starting = asyncio.Lock()
        self._log = log.bind(group=group)

    async def send_back(
        self, mq: MessageQueue, msg: MessageExt, max_reconsume_times: int, timeout: float
    ) -> bool:
        """CONSUMER_SEND_MSG_BACK, else a direct send; ``False`` if both failed (retry locally)."""
        addr = self.client.broker_addr(mq.broker_name)
        return await self._send_back(addr, mq.broker_name, msg, 0, max_reconsume_times, timeout)

    async def send_back_to_store_host(
        self, msg: MessageExt, delay_level: int, max_reconsume_times: int, timeout: float
    ) -> bool:
        """:meth:`send_back` when the queue is unknown: to the broker that stored ``msg`` (its store
        host), as Java ``sendMessageBack(msg, delayLevel, null)`` does, with an explicit
        ``delay_level`` (0 = the broker's back-off, -1 = dead-letter queue). Only
        CONSUMER_SEND_MSG_BACK honours the level; the direct-send fallback uses the retry back-off."""
        host, port = msg.store_host
        return await self._send_back(f"{host}:{port}", None, msg, delay_level, max_reconsume_times, timeout)

    async def _send_back(
        self,
        addr: str | None,
        broker_name: str | None,
        msg: MessageExt,
        delay_level: int,
        max_reconsume_times: int,
        timeout: float,
    ) -> bool:
        if addr is not None:
            header = ConsumerSendMsgBackRequestHeader(
                offset=msg.commit_log_offset, group=self.group, delay_level=delay_level,
                origin_msg_id=msg.msg_id, origin_topic=msg.topic, max_reconsume_times=max_reconsume_times,
                bname=broker_name,
            )  # fmt: skip
            try:
                await self.client.api.send_back(addr, header, timeout)
                return True
            except ClientError as exc:
                self._log.warning(
                    "send back failed; sending to the retry topic", msg_id=msg.msg_id, error=str(exc)
                )
        return await self.send_direct(msg, max_reconsume_times, timeout, msg.reconsume_times + 1)

    async def send_direct(
        self, msg: MessageExt, max_reconsume_times: int, timeout: float, reconsume_times: int
    ) -> bool:
        """Send a copy to ``%RETRY%<group>`` with the inner producer; ``False`` if that failed."""
        try:
            producer = await self._inner_producer()
            retry_msg = build_retry_message(msg, self.group, max_reconsume_times, reconsume_times)
            await producer.send(retry_msg, timeout)
            return True
        except ClientError as exc:
            self._log.warning(
                "direct retry send failed; will retry locally", msg_id=msg.msg_id, error=str(exc)
            )
            return False

    async def _inner_producer(self) -> Producer:
        async with self._starting:
            if self._producer is None:
                producer = Producer(
                    INNER_PRODUCER_GROUP,
                    client_config=self.client_config,
                    config=ProducerConfig(retry_times_when_send_failed=1),
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.shutdown()
