"""Per-message send work kept minimal: UNIQ_KEY, compression, the V2 header, the response.

:func:`build_send_ext_fields` writes the single-letter V2 ext fields (remoting spec §4.1) directly
into a dict; it produces exactly what
``SendMessageRequestHeader(...).to_v2_ext_fields()`` produces (a unit test checks this) without
the generic field walk, because it runs once per message on the producer's hot path.
"""

from __future__ import annotations

import os
import time

from broker_core.message.model import Message, MessageQueue
from broker_core.message.msg_id import UniqIdGenerator
from broker_core.message.properties import MessageConst
from broker_core.remoting.command import RemotingCommand
from rocketmq_integration.client.results import SendResult, SendStatus
from rocketmq_integration.client.validation import RETRY_GROUP_TOPIC_PREFIX
from rocketmq_integration.errors import MQBrokerError

__all__ = ["build_send_ext_fields", "new_uniq_id", "now_ms", "parse_send_response", "set_uniq_id"]

_generator: UniqIdGenerator | None = None
_generator_pid = -1


def new_uniq_id() -> str:
    """A fresh ``UNIQ_KEY`` (the generator is rebuilt after a fork so children get their own pid)."""
    global _generator, _generator_pid
    if _generator is None or _generator_pid != os.getpid():
        _generator = UniqIdGenerator()
        _generator_pid = os.getpid()
    return _generator.create()


def set_uniq_id(msg: Message) -> str:
    """Set ``UNIQ_KEY`` unless present; return it."""
    uniq = msg.properties.get(MessageConst.UNIQ_KEY)
    if not uniq:
        uniq = msg.properties[MessageConst.UNIQ_KEY] = new_uniq_id()
    return uniq


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def build_send_ext_fields(
    *,
    group: str,
    topic: str,
    queue_id: int,
    sys_flag: int,
    born_timestamp: int,
    flag: int,
    properties: str,
    default_topic: str,
    default_topic_queue_nums: int,
    broker_name: str,
    batch: bool = False,
    reconsume_times: int = 0,
    max_reconsume_times: int | None = None,
) -> dict[str, str]:
    """V2 ext fields of SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE (letters ``a``–``n``)."""
    ext = {
        "a": group,
        "b": topic,
        "c": default_topic,
        "d": str(default_topic_queue_nums),
        "e": str(queue_id),
        "f": str(sys_flag),
        "g": str(born_timestamp),
        "h": str(flag),
        "i": properties,
        "j": str(reconsume_times),
        "k": "false",
    }
    if max_reconsume_times is not None:
        ext["l"] = str(max_reconsume_times)
    ext["m"] = "true" if batch else "false"
    ext["n"] = broker_name
    return ext


def retry_header_values(topic: str, properties: dict[str, str]) -> tuple[int, int | None, dict[str, str]]:
    """For ``%RETRY%`` topics move RECONSUME_TIME / MAX_RECONSUME_TIMES into header fields j / l.

    Returns ``(reconsume_times, max_reconsume_times, properties without those two)``.
    """
    if not topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
        return 0, None, properties
    props = dict(properties)
    reconsume = int(props.pop(MessageConst.RECONSUME_TIME, "0") or 0)
    max_times = props.pop(MessageConst.MAX_RECONSUME_TIMES, None)
    return reconsume, (int(max_times) if max_times else None), props


def parse_send_response(
    resp: RemotingCommand, addr: str, topic: str, broker_name: str, msg_id: str
) -> SendResult:
    """SendResult of a success-class response; MQBrokerError for any other code."""
    status = SendStatus.from_code(resp.code)
    if status is None:
        raise MQBrokerError(resp.code, resp.remark, addr)
    ext = resp.ext_fields or {}
    return SendResult(
        status=status,
        msg_id=msg_id,
        offset_msg_id=ext.get("msgId", ""),
        message_queue=MessageQueue(topic, broker_name, int(ext.get("queueId", "-1"))),
        queue_offset=int(ext.get("queueOffset", "-1")),
        transaction_id=ext.get("transactionId"),
    )
