"""Message properties string codec, well-known property keys and the tag hash code.

Properties travel (send header ``properties``) and are stored (record field 17) as one string::

    name \\x01 value \\x02 name \\x01 value \\x02 ...

An empty map is the empty string. Decoding follows Java's ``String.split`` semantics: pieces are split
on ``\\x02`` then on ``\\x01``; trailing empty strings are dropped by ``split`` and a piece that does not
yield exactly two parts is ignored (so an empty value does not survive a round trip, as in Java).

The broker appends to the string it received (``CLUSTER`` etc.) instead of re-encoding a dict: decoding
and re-encoding on the hot path would cost more than the store append itself.
"""

from __future__ import annotations

import functools
import operator
import struct
from collections.abc import Mapping

__all__ = [
    "NAME_VALUE_SEPARATOR",
    "PROPERTY_SEPARATOR",
    "MessageConst",
    "append_property",
    "decode_properties",
    "encode_properties",
    "java_string_hash",
    "property_value",
    "tags_hash_code",
]

NAME_VALUE_SEPARATOR = "\x01"
PROPERTY_SEPARATOR = "\x02"


class MessageConst:
    """Property key strings (RocketMQ ``MessageConst``); attribute name = wire string where possible."""

    KEYS = "KEYS"
    TAGS = "TAGS"
    WAIT = "WAIT"
    DELAY = "DELAY"
    RETRY_TOPIC = "RETRY_TOPIC"
    REAL_TOPIC = "REAL_TOPIC"
    REAL_QID = "REAL_QID"
    TRAN_MSG = "TRAN_MSG"
    PGROUP = "PGROUP"
    MIN_OFFSET = "MIN_OFFSET"
    MAX_OFFSET = "MAX_OFFSET"
    BUYER_ID = "BUYER_ID"
    ORIGIN_MESSAGE_ID = "ORIGIN_MESSAGE_ID"
    TRANSFER_FLAG = "TRANSFER_FLAG"
    CORRECTION_FLAG = "CORRECTION_FLAG"
    MQ2_FLAG = "MQ2_FLAG"
    RECONSUME_TIME = "RECONSUME_TIME"
    MSG_REGION = "MSG_REGION"
    TRACE_ON = "TRACE_ON"
    UNIQ_KEY = "UNIQ_KEY"
    MAX_RECONSUME_TIMES = "MAX_RECONSUME_TIMES"
    CONSUME_START_TIME = "CONSUME_START_TIME"
    TRAN_PREPARED_QUEUE_OFFSET = "TRAN_PREPARED_QUEUE_OFFSET"
    TRANSACTION_CHECK_TIMES = "TRANSACTION_CHECK_TIMES"
    CHECK_IMMUNITY_TIME_IN_SECONDS = "CHECK_IMMUNITY_TIME_IN_SECONDS"
    INSTANCE_ID = "INSTANCE_ID"
    CORRELATION_ID = "CORRELATION_ID"
    REPLY_TO_CLIENT = "REPLY_TO_CLIENT"
    TTL = "TTL"
    ARRIVE_TIME = "ARRIVE_TIME"
    PUSH_REPLY_TIME = "PUSH_REPLY_TIME"
    CLUSTER = "CLUSTER"
    MSG_TYPE = "MSG_TYPE"
    INNER_MULTI_DISPATCH = "INNER_MULTI_DISPATCH"
    INNER_MULTI_QUEUE_OFFSET = "INNER_MULTI_QUEUE_OFFSET"
    START_DELIVER_TIME = "__STARTDELIVERTIME"
    SHARDING_KEY = "__SHARDINGKEY"
    TIMER_DELIVER_MS = "TIMER_DELIVER_MS"
    TIMER_DELAY_SEC = "TIMER_DELAY_SEC"
    TIMER_DELAY_MS = "TIMER_DELAY_MS"

    KEY_SEPARATOR = " "
    # Value of MSG_TYPE on a request-reply response message.
    REPLY_MESSAGE_FLAG = "reply"
    # Topic where delayed messages are parked (tagsCode of its CQ entries = delivery time).
    SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX"

    #: Names a Java client refuses as user properties (the server does not enforce this).
    SYSTEM_KEYS: frozenset[str] = frozenset(
        {
            KEYS, TAGS, WAIT, DELAY, RETRY_TOPIC, REAL_TOPIC, REAL_QID, TRAN_MSG, PGROUP, MIN_OFFSET,
            MAX_OFFSET, BUYER_ID, ORIGIN_MESSAGE_ID, TRANSFER_FLAG, CORRECTION_FLAG, MQ2_FLAG,
            RECONSUME_TIME, MSG_REGION, TRACE_ON, UNIQ_KEY, MAX_RECONSUME_TIMES, CONSUME_START_TIME,
            TRAN_PREPARED_QUEUE_OFFSET, TRANSACTION_CHECK_TIMES, CHECK_IMMUNITY_TIME_IN_SECONDS,
            INSTANCE_ID, CORRELATION_ID, REPLY_TO_CLIENT, TTL, ARRIVE_TIME, PUSH_REPLY_TIME, CLUSTER,
            MSG_TYPE, INNER_MULTI_DISPATCH, INNER_MULTI_QUEUE_OFFSET,
        }
    )  # fmt: skip


def encode_properties(properties: Mapping[str, str | None]) -> str:
    """Encode a property map as ``name\\x01value\\x02``...; entries whose value is None are skipped."""
    return "".join(f"{k}\x01{v}\x02" for k, v in properties.items() if v is not None)


def decode_properties(text: str) -> dict[str, str]:
    """Decode a properties string with Java ``split`` semantics (see module docstring)."""
    out: dict[str, str] = {}
    if not text:
        return out
    for piece in text.split("\x02"):
        parts = piece.split("\x01")
        if len(parts) == 2:
            if parts[1]:
                out[parts[0]] = parts[1]
        elif len(parts) > 2:
            while parts and not parts[-1]:
                parts.pop()
            if len(parts) == 2:
                out[parts[0]] = parts[1]
    return out


def property_value(text: str, name: str) -> str | None:
    """``decode_properties(text).get(name)`` without building the dict (dispatch's hot path).

    Dispatch needs three or four well-known values of every record (TAGS, KEYS, UNIQ_KEY, DELAY);
    decoding every property into a dict cost more than the consume-queue write itself. The entry is
    located with two C-level scans; anything the plain scan cannot decide exactly as Java's ``split``
    would (the name twice, an empty value, a value holding ``\x01``) is left to the full decoder.
    """
    key = name + "\x01"
    if text.startswith(key):
        start = len(key)
        sep_key = "\x02" + key
    else:
        sep_key = "\x02" + key
        at = text.find(sep_key)
        if at < 0:
            return None
        start = at + len(sep_key)
    end = text.find("\x02", start)
    if end < 0:
        end = len(text)
    value = text[start:end]
    if not value or "\x01" in value or text.find(sep_key, end) >= 0:
        return decode_properties(text).get(name)
    return value


def append_property(properties_str: str, name: str, value: str) -> str:
    """Append one property to an encoded string, inserting a separator if the string lacks one."""
    if properties_str and not properties_str.endswith("\x02"):
        properties_str += "\x02"
    return f"{properties_str}{name}\x01{value}\x02"


# 31**k mod 2**32: Java's wrapping polynomial, summed in C by ``map(mul, ...)`` (exact modulo 2**32).
_POW31: list[int] = [1]
for _ in range(255):
    _POW31.append(_POW31[-1] * 31 & 0xFFFFFFFF)
_TAIL = 12  # the varying end of a UNIQ_KEY (time + counter); the rest repeats per producer
_POW31_TAIL = _POW31[_TAIL]


def _poly(units: bytes) -> int:
    """Unreduced ``sum(u * 31**(n-1-i))`` with 32-bit powers; ``len(units) <= len(_POW31)``."""
    return sum(map(operator.mul, reversed(units), _POW31))


@functools.lru_cache(maxsize=4096)
def _prefix_poly(prefix: str) -> int:
    return _poly(prefix.encode("ascii"))


def java_string_hash(text: str) -> int:
    """Java ``String.hashCode()``: ``h = 31*h + c`` over UTF-16 code units, as a signed int32.

    ASCII keys (index keys ``topic#UNIQ_KEY``, tags) take a C-level sum of products; a long key
    reuses the cached polynomial of its head, since keys of one producer share all but their tail.
    """
    n = len(text)
    if text.isascii() and n <= len(_POW31):
        if n > 2 * _TAIL:
            h = _prefix_poly(text[:-_TAIL]) * _POW31_TAIL + _poly(text[-_TAIL:].encode("ascii"))
        else:
            h = _poly(text.encode("ascii"))
    else:
        raw = text.encode("utf-16-be")
        h = 0
        for unit in struct.unpack(f">{len(raw) // 2}H", raw):
            h = (31 * h + unit) & 0xFFFFFFFF
    h &= 0xFFFFFFFF
    return h - 0x100000000 if h & 0x80000000 else h


@functools.lru_cache(maxsize=8192)
def tags_hash_code(tag: str | None) -> int:
    """Consume-queue tagsCode of a tag: its Java hash (0 for no tag). Cached: tags repeat a lot."""
    if not tag:
        return 0
    return java_string_hash(tag)
