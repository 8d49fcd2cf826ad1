"""PULL_MESSAGE (11) request/response headers and PullSysFlag bits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

from broker_core.remoting.headers.base import CommandHeader


class PullSysFlag(IntFlag):
    """``PullSysFlag``: what the broker may do with a pull request."""

    COMMIT_OFFSET = 0x1
    SUSPEND = 0x2
    SUBSCRIPTION = 0x4
    CLASS_FILTER = 0x8
    LITE_PULL_MESSAGE = 0x10


@dataclass(slots=True)
class PullMessageRequestHeader(CommandHeader):
    consumer_group: str
    topic: str
    queue_id: int
    queue_offset: int
    max_msg_nums: int
    sys_flag: int
    commit_offset: int
    suspend_timeout_millis: int
    sub_version: int
    subscription: str | None = None
    expression_type: str | None = None
    bname: str | None = None
    max_msg_bytes: int | None = None


@dataclass(slots=True)
class PullMessageResponseHeader(CommandHeader):
    suggest_which_broker_id: int
    next_begin_offset: int
    min_offset: int
    max_offset: int
