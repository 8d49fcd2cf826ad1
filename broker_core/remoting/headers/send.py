"""SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and reply-send headers.

Codes 10/324 carry full field names; 310/320/325 carry the single-letter V2 aliases below. The
broker accepts both, by request code, and processes one structure.

| V1 name               | V2 |
|-----------------------|----|
| producerGroup         | a  |
| topic                 | b  |
| defaultTopic          | c  |
| defaultTopicQueueNums | d  |
| queueId               | e  |
| sysFlag               | f  |
| bornTimestamp         | g  |
| flag                  | h  |
| properties            | i  |
| reconsumeTimes        | j  |
| unitMode              | k  |
| maxReconsumeTimes     | l  |
| batch                 | m  |
| bname                 | n  |
"""

from __future__ import annotations

from dataclasses import dataclass

from broker_core.remoting.codes import RequestCode
from broker_core.remoting.headers.base import CommandHeader, HeaderError

V2_ALIASES: dict[str, str] = {
    "a": "producerGroup",
    "b": "topic",
    "c": "defaultTopic",
    "d": "defaultTopicQueueNums",
    "e": "queueId",
    "f": "sysFlag",
    "g": "bornTimestamp",
    "h": "flag",
    "i": "properties",
    "j": "reconsumeTimes",
    "k": "unitMode",
    "l": "maxReconsumeTimes",
    "m": "batch",
    "n": "bname",
}
_V1_TO_V2 = {v: k for k, v in V2_ALIASES.items()}

V2_CODES = frozenset(
    {RequestCode.SEND_MESSAGE_V2, RequestCode.SEND_BATCH_MESSAGE, RequestCode.SEND_REPLY_MESSAGE_V2}
)
SEND_CODES = frozenset(
    {
        RequestCode.SEND_MESSAGE,
        RequestCode.SEND_MESSAGE_V2,
        RequestCode.SEND_BATCH_MESSAGE,
        RequestCode.SEND_REPLY_MESSAGE,
        RequestCode.SEND_REPLY_MESSAGE_V2,
    }
)


def _opt_int(raw: str | None) -> int | None:
    return None if raw is None or raw == "" else int(raw)


def _opt_bool(raw: str | None) -> bool | None:
    return None if raw is None or raw == "" else raw.lower() == "true"


@dataclass(slots=True)
class SendMessageRequestHeader(CommandHeader):
    """``SendMessageRequestHeader`` (V1 names; see :meth:`from_request` for V2)."""

    producer_group: str
    topic: str
    default_topic: str
    default_topic_queue_nums: int
    queue_id: int
    sys_flag: int
    born_timestamp: int
    flag: int
    properties: str | None = None
    reconsume_times: int | None = None
    unit_mode: bool | None = None
    max_reconsume_times: int | None = None
    batch: bool | None = None
    bname: str | None = None

    @classmethod
    def from_request(cls, code: int, ext: dict[str, str] | None) -> SendMessageRequestHeader:
        """Decode by request code: V2 codes use the letter aliases, others full names."""
        if ext is None:
            raise HeaderError("send request without a custom header")
        if code in V2_CODES:
            try:
                return cls._from_v2(ext)
            except (KeyError, ValueError):  # the generic path below names the bad field
                pass
            ext = {V2_ALIASES.get(k, k): v for k, v in ext.items()}
        return cls.from_ext_fields(ext)

    @classmethod
    def _from_v2(cls, ext: dict[str, str]) -> SendMessageRequestHeader:
        """The V2 letter keys read directly (hot path); same values as the generic decoder."""
        get = ext.get
        return cls(
            producer_group=ext["a"],
            topic=ext["b"],
            default_topic=ext["c"],
            default_topic_queue_nums=int(ext["d"]),
            queue_id=int(ext["e"]),
            sys_flag=int(ext["f"]),
            born_timestamp=int(ext["g"]),
            flag=int(ext["h"]),
            properties=get("i"),
            reconsume_times=_opt_int(get("j")),
            unit_mode=_opt_bool(get("k")),
            max_reconsume_times=_opt_int(get("l")),
            batch=_opt_bool(get("m")),
            bname=get("n"),
        )

    def to_v2_ext_fields(self) -> dict[str, str]:
        """Encode with the single-letter V2 keys (codes 310/320/325)."""
        return {_V1_TO_V2.get(k, k): v for k, v in self.to_ext_fields().items()}


@dataclass(slots=True)
class SendMessageResponseHeader(CommandHeader):
    """Response to every send code; ``msg_id`` is the offset msgId (comma-joined for batches)."""

    msg_id: str
    queue_id: int
    queue_offset: int
    transaction_id: str | None = None
    batch_uniq_id: str | None = None
