"""Dead-letter queue of a consumer group: browse ``%DLQ%<group>`` and re-send a message to the group.

Browsing pulls the newest records of every DLQ queue with a pull consumer of the tools group
``TOOLS_CONSUMER`` (the group Apache's own tools use; no offset is ever committed).

Re-sending stores a copy in ``%RETRY%<group>``, the group's retry topic, with its reconsume count
reset to 0: only that group consumes it again (other groups of the original topic are not
disturbed), members that are offline get it when they come back, and the copy keeps the message's
msgId (``UNIQ_KEY``), keys, tags and properties. ``RETRY_TOPIC`` names the original topic, so the
listener sees the message on that topic as on a normal retry.
"""

from __future__ import annotations

from broker_core.message.model import Message, MessageExt
from broker_core.message.msg_id import decode_offset_msg_id
from broker_core.message.properties import MessageConst
from rocketmq_integration.client import Admin, Producer, PullConsumer, PullStatus, SendResult
from rocketmq_integration.django.dashboard.service import DLQ_PREFIX, RETRY_PREFIX

__all__ = ["TOOLS_GROUP", "NotADeadLetter", "browse", "resend", "resend_copy"]

TOOLS_GROUP = "TOOLS_CONSUMER"
RESEND_PRODUCER_GROUP = "rocketmq_dashboard"
#: Properties the broker or a previous delivery added; a re-sent copy must not carry them.
_DROPPED = frozenset(
    {MessageConst.MIN_OFFSET, MessageConst.MAX_OFFSET, MessageConst.REAL_TOPIC, MessageConst.REAL_QID,
     MessageConst.DELAY, MessageConst.MSG_REGION, MessageConst.TRACE_ON, MessageConst.CLUSTER,
     MessageConst.CONSUME_START_TIME, MessageConst.MAX_RECONSUME_TIMES, MessageConst.WAIT}
)  # fmt: skip


class NotADeadLetter(Exception):
    """The id given for a re-send does not name a record of the group's DLQ."""


async def browse(admin: Admin, group: str, limit: int = 50) -> list[MessageExt]:
    """The newest ``limit`` messages of ``group``'s DLQ (all queues), newest first; [] when none."""
    topic = DLQ_PREFIX + group
    if topic not in await admin.topic_list():
        return []
    out: list[MessageExt] = []
    async with PullConsumer(TOOLS_GROUP, client_config=admin.client_config) as consumer:
        for mq in await consumer.fetch_subscribe_message_queues(topic):
            lo, hi = await consumer.min_offset(mq), await consumer.max_offset(mq)
            offset = max(lo, hi - limit)
            while offset < hi:
                result = await consumer.pull(mq, "*", offset, min(32, hi - offset))
                if result.status is not PullStatus.FOUND or not result.messages:
                    break
                out += result.messages
                offset = result.next_begin_offset
    out.sort(key=lambda m: m.store_timestamp, reverse=True)
    return out[:limit]


def resend_copy(msg: MessageExt, group: str) -> Message:
    """The message to store in ``%RETRY%<group>`` for a DLQ record ``msg`` of ``group``."""
    props = {k: v for k, v in msg.properties.items() if k not in _DROPPED}
    props.setdefault(MessageConst.RETRY_TOPIC, msg.topic)
    props[MessageConst.RECONSUME_TIME] = "0"
    return Message(RETRY_PREFIX + group, msg.body, msg.flag, props)


async def resend(admin: Admin, group: str, offset_msg_id: str) -> SendResult:
    """Re-send the DLQ record ``offset_msg_id`` of ``group`` to the group (see the module docstring).

    Raises:
        NotADeadLetter: ``offset_msg_id`` is malformed, names no broker of the cluster, or its record
            is not in ``%DLQ%<group>``.
    """
    try:
        (host, port), _ = decode_offset_msg_id(offset_msg_id)
    except ValueError as exc:
        raise NotADeadLetter(f"{offset_msg_id!r} is not a broker message id: {exc}") from None
    if f"{host}:{port}" not in (await admin.master_addrs()).values():
        raise NotADeadLetter(f"{offset_msg_id!r} names no broker of this cluster")
    msg = await admin.view_message(offset_msg_id)
    if msg.topic != DLQ_PREFIX + group:
        raise NotADeadLetter(f"message {offset_msg_id} is in {msg.topic}, not in the DLQ of {group}")
    async with Producer(RESEND_PRODUCER_GROUP, client_config=admin.client_config) as producer:
        return await producer.send(resend_copy(msg, group))
