"""Argument checks done before anything goes on the wire (remoting spec §5.7), and service states."""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence

from broker_core.message.model import Message
from broker_core.message.names import validate_group, validate_topic
from broker_core.message.properties import MessageConst
from rocketmq_integration.errors import MQClientError, ValidationError

__all__ = [
    "RETRY_GROUP_TOPIC_PREFIX",
    "ServiceState",
    "check_batch",
    "check_group",
    "check_message",
    "check_topic",
    "retry_topic",
]

RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"
DLQ_GROUP_TOPIC_PREFIX = "%DLQ%"


def retry_topic(group: str) -> str:
    """``%RETRY%<group>``."""
    return RETRY_GROUP_TOPIC_PREFIX + group


class ServiceState(enum.Enum):
    CREATE_JUST = "CREATE_JUST"
    RUNNING = "RUNNING"
    SHUTDOWN_ALREADY = "SHUTDOWN_ALREADY"

    def ensure_running(self, what: str) -> None:
        if self is not ServiceState.RUNNING:
            raise MQClientError(f"{what} is not running (state {self.value}); call start() first")


@functools.lru_cache(maxsize=4096)
def _topic_problem(topic: str) -> str | None:
    return validate_topic(topic)


def check_topic(topic: str) -> None:
    """Raises ValidationError with the broker's remark for an illegal topic name (cached: hot path)."""
    if not isinstance(topic, str):
        raise ValidationError(f"topic must be a str, not {type(topic).__name__}")
    problem = _topic_problem(topic)
    if problem:
        raise ValidationError(f"{problem} (topic {topic!r})")


def check_group(group: str) -> None:
    problem = validate_group(group)
    if problem:
        raise ValidationError(problem)


def check_message(msg: Message, max_size: int) -> None:
    """Topic legal, body non-empty bytes within ``max_size``."""
    check_topic(msg.topic)
    body = msg.body
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ValidationError(f"message body must be bytes, not {type(body).__name__}")
    if len(body) == 0:
        raise ValidationError("the message body length is zero")
    if len(body) > max_size:
        raise ValidationError(f"the message body size {len(body)} exceeds the maximum {max_size}")


def check_batch(msgs: Sequence[Message], max_size: int) -> str:
    """Batch rules (§5.4): non-empty, one topic, no delay, not a retry topic. Returns the topic."""
    if not msgs:
        raise ValidationError("a batch needs at least one message")
    topic = msgs[0].topic
    wait = msgs[0].wait_store_msg_ok
    for m in msgs:
        check_message(m, max_size)
        if m.topic != topic:
            raise ValidationError("the topic of the messages in one batch should be the same")
        if m.properties.get(MessageConst.DELAY):
            raise ValidationError("TimeDelayLevel is not supported for batching")
        if m.wait_store_msg_ok != wait:
            raise ValidationError("the waitStoreMsgOK of the messages in one batch should be the same")
    if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
        raise ValidationError("retry group topic is not supported for batching")
    return topic
