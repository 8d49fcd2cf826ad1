"""Consumer offset and queue offset headers (codes 14, 15, 29, 30, 31, 32)."""

from __future__ import annotations

from dataclasses import dataclass

from broker_core.remoting.headers.base import CommandHeader


@dataclass(slots=True)
class QueryConsumerOffsetRequestHeader(CommandHeader):
    consumer_group: str
    topic: str
    queue_id: int
    bname: str | None = None


@dataclass(slots=True)
class UpdateConsumerOffsetRequestHeader(CommandHeader):
    consumer_group: str
    topic: str
    queue_id: int
    commit_offset: int
    bname: str | None = None


@dataclass(slots=True)
class QueueRequestHeader(CommandHeader):
    """GET_MAX_OFFSET, GET_MIN_OFFSET, GET_EARLIEST_MSG_STORETIME: a topic and a queue."""

    topic: str
    queue_id: int
    bname: str | None = None


@dataclass(slots=True)
class SearchOffsetRequestHeader(CommandHeader):
    topic: str
    queue_id: int
    timestamp: int
    bname: str | None = None


@dataclass(slots=True)
class OffsetResponseHeader(CommandHeader):
    """``offset`` answer of codes 14, 29, 30, 31."""

    offset: int


@dataclass(slots=True)
class TimestampResponseHeader(CommandHeader):
    """``timestamp`` answer of GET_EARLIEST_MSG_STORETIME."""

    timestamp: int
