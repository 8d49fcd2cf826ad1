"""Outcome enums and frozen result dataclasses of sends, pulls and listener calls."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias

from broker_core.message.model import MessageExt, MessageQueue
from broker_core.remoting.codes import ResponseCode

__all__ = [
    "ConsumeResult",
    "ListenerResult",
    "PullResult",
    "PullStatus",
    "SendResult",
    "SendStatus",
    "SuspendCurrentQueue",
    "as_consume_result",
]


class SendStatus(enum.Enum):
    """A stored send; only SEND_OK means flush and replication also succeeded."""

    SEND_OK = "SEND_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"
    FLUSH_SLAVE_TIMEOUT = "FLUSH_SLAVE_TIMEOUT"
    SLAVE_NOT_AVAILABLE = "SLAVE_NOT_AVAILABLE"

    @classmethod
    def from_code(cls, code: int) -> SendStatus | None:
        """The status of a success-class response code, ``None`` for an error code."""
        return _SEND_STATUS_BY_CODE.get(code)


_SEND_STATUS_BY_CODE: dict[int, SendStatus] = {
    ResponseCode.SUCCESS: SendStatus.SEND_OK,
    ResponseCode.FLUSH_DISK_TIMEOUT: SendStatus.FLUSH_DISK_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: SendStatus.FLUSH_SLAVE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: SendStatus.SLAVE_NOT_AVAILABLE,
}


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a send returns.

    Attributes:
        msg_id: the client id (``UNIQ_KEY``; comma-joined for a batch).
        offset_msg_id: the broker's offset msgId (comma-joined for a batch).
        queue_offset: consume-queue offset (the first one for a batch).
    """

    status: SendStatus
    msg_id: str
    offset_msg_id: str
    message_queue: MessageQueue
    queue_offset: int
    transaction_id: str | None = None


class ConsumeResult(enum.Enum):
    """A listener's verdict for a batch.

    Orderly listeners return SUCCESS or SUSPEND_CURRENT_QUEUE_A_MOMENT (RECONSUME_LATER means the
    same there; :class:`SuspendCurrentQueue` also picks the pause); concurrent listeners treat
    SUSPEND_CURRENT_QUEUE_A_MOMENT as RECONSUME_LATER.
    """

    SUCCESS = "CONSUME_SUCCESS"
    RECONSUME_LATER = "RECONSUME_LATER"
    SUSPEND_CURRENT_QUEUE_A_MOMENT = "SUSPEND_CURRENT_QUEUE_A_MOMENT"


@dataclass(frozen=True, slots=True)
class SuspendCurrentQueue:
    """SUSPEND_CURRENT_QUEUE_A_MOMENT with a pause chosen by this call.

    The Java client lets an orderly listener set ``ConsumeOrderlyContext.suspendCurrentQueueTimeMillis``
    before returning SUSPEND_CURRENT_QUEUE_A_MOMENT; here the listener returns this value instead of
    the bare enum member, so the listener signature stays ``(msgs) -> result``. The orderly service
    pauses the queue for ``duration`` seconds (instead of ``ConsumerConfig.suspend_current_queue_time``)
    and consumes the same messages again. Concurrent listeners treat it as RECONSUME_LATER.
    """

    duration: float

    def __post_init__(self) -> None:
        if not 0 <= self.duration < float("inf"):
            raise ValueError(
                f"suspend duration must be a finite number of seconds >= 0, got {self.duration!r}"
            )


#: what a push-consumer listener may return
ListenerResult: TypeAlias = ConsumeResult | SuspendCurrentQueue


def as_consume_result(result: ListenerResult) -> ConsumeResult:
    """The enum verdict of a listener result (a :class:`SuspendCurrentQueue` is a suspend)."""
    if isinstance(result, SuspendCurrentQueue):
        return ConsumeResult.SUSPEND_CURRENT_QUEUE_A_MOMENT
    return result


class PullStatus(enum.Enum):
    FOUND = "FOUND"
    NO_NEW_MSG = "NO_NEW_MSG"
    NO_MATCHED_MSG = "NO_MATCHED_MSG"
    OFFSET_ILLEGAL = "OFFSET_ILLEGAL"


@dataclass(frozen=True, slots=True)
class PullResult:
    """A processed pull response (messages decoded, tag-filtered, MIN/MAX_OFFSET added)."""

    status: PullStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    messages: list[MessageExt] = field(default_factory=list)
    suggest_which_broker_id: int = 0
