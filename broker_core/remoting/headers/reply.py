"""PUSH_REPLY_MESSAGE_TO_CLIENT (326) header: the broker pushes a reply to the requesting client."""

from __future__ import annotations

from dataclasses import dataclass

from broker_core.remoting.headers.base import CommandHeader


@dataclass(slots=True)
class ReplyMessageRequestHeader(CommandHeader):
    """Apache ``ReplyMessageRequestHeader``; ``bornHost``/``storeHost`` are ``ip:port``."""

    producer_group: str
    topic: str
    default_topic: str
    default_topic_queue_nums: int
    queue_id: int
    sys_flag: int
    born_timestamp: int
    flag: int
    born_host: str
    store_host: str
    store_timestamp: int
    properties: str | None = None
    reconsume_times: int | None = None
    unit_mode: bool | None = None
