"""5.x POP consumption headers (POP_MESSAGE 200050, ACK_MESSAGE 200051, CHANGE_MESSAGE_INVISIBLETIME
200053) and the receipt handle ("extraInfo") format.

The codes do not fit the 16-bit code of the ROCKETMQ header encoding: send them with JSON headers.

Receipt handle, fields separated by one space (Apache ``ExtraInfoUtil.buildExtraInfo`` + the message
queue offset the client appends)::

    ckQueueOffset popTime invisibleTime reviveQid retryMark brokerName queueId queueOffset

``retryMark`` is ``0`` for the topic itself and ``1`` for the group's pop retry topic
``%RETRY%<group>_<topic>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker_core.remoting.headers.base import CommandHeader

NORMAL_MARK = "0"
RETRY_MARK = "1"
RETRY_PREFIX = "%RETRY%"


class ReceiptHandleError(ValueError):
    """An ``extraInfo`` string that is not a receipt handle of this format."""


def pop_retry_topic(group: str, topic: str) -> str:
    """The pop retry topic of a group and topic (Apache ``KeyBuilder.buildPopRetryTopicV1``)."""
    return f"{RETRY_PREFIX}{group}_{topic}"


@dataclass(frozen=True, slots=True)
class ReceiptHandle:
    ck_queue_offset: int
    pop_time: int
    invisible_time: int
    revive_qid: int
    retry_mark: str
    broker_name: str
    queue_id: int
    queue_offset: int

    def encode(self) -> str:
        return " ".join(
            str(v)
            for v in (
                self.ck_queue_offset, self.pop_time, self.invisible_time, self.revive_qid,
                self.retry_mark, self.broker_name, self.queue_id, self.queue_offset,
            )
        )  # fmt: skip

    @classmethod
    def parse(cls, text: str | None) -> ReceiptHandle:
        parts = (text or "").split(" ")
        if len(parts) != 8:
            raise ReceiptHandleError(f"invalid receipt handle {text!r}: expected 8 space-separated fields")
        try:
            handle = cls(
                int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]), parts[4], parts[5],
                int(parts[6]), int(parts[7]),
            )  # fmt: skip
        except ValueError:
            raise ReceiptHandleError(f"invalid receipt handle {text!r}: non-numeric field") from None
        if (
            handle.retry_mark not in (NORMAL_MARK, RETRY_MARK)
            or handle.queue_id < 0
            or handle.queue_offset < 0
        ):
            raise ReceiptHandleError(f"invalid receipt handle {text!r}: bad retry mark, queue or offset")
        return handle

    def store_topic(self, group: str, topic: str) -> str:
        """The topic the handle's message was popped from (Java clients may name it already)."""
        if self.retry_mark == RETRY_MARK and not topic.startswith(RETRY_PREFIX):
            return pop_retry_topic(group, topic)
        return topic


@dataclass(slots=True)
class PopMessageRequestHeader(CommandHeader):
    consumer_group: str
    topic: str
    queue_id: int
    max_msg_nums: int
    invisible_time: int
    poll_time: int
    born_time: int
    init_mode: int
    exp_type: str | None = None
    exp: str | None = None
    order: bool | None = None
    attempt_id: str | None = None


@dataclass(slots=True)
class PopMessageResponseHeader(CommandHeader):
    pop_time: int
    invisible_time: int
    revive_qid: int
    rest_num: int
    start_offset_info: str | None = None
    msg_offset_info: str | None = None
    order_count_info: str | None = None


@dataclass(slots=True)
class AckMessageRequestHeader(CommandHeader):
    consumer_group: str
    topic: str
    queue_id: int
    extra_info: str
    offset: int


@dataclass(slots=True)
class ChangeInvisibleTimeRequestHeader(CommandHeader):
    consumer_group: str
    topic: str
    queue_id: int
    extra_info: str
    offset: int
    invisible_time: int


@dataclass(slots=True)
class ChangeInvisibleTimeResponseHeader(CommandHeader):
    pop_time: int
    invisible_time: int
    revive_qid: int
