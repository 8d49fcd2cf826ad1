"""SQL92 filtering of a pull (storage spec 5.2, remoting spec 4.2).

:func:`resolve_sql92` chooses the compiled expression for a pull — the one in the request header
(``FLAG_SUBSCRIPTION``, compiled here; an error becomes SUBSCRIPTION_PARSE_FAILED with its line and
column) or the one the group registered by heartbeat (FILTER_DATA_NOT_EXIST / _NOT_LATEST when the
broker has none or an older one). :func:`record_filter` turns it into the store's commit-log stage
test on raw records: decode the properties and require a Boolean TRUE.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from broker_core.broker.filtering.consumer_filter import ConsumerFilterManager
from broker_core.broker.filtering.sql92 import CompiledSelector, FilterSyntaxError, compile_selector
from broker_core.message.codec import MESSAGE_MAGIC_CODE, head_struct
from broker_core.remoting.body.heartbeat import SubscriptionData
from broker_core.remoting.codes import ResponseCode

__all__ = ["record_filter", "record_properties_text", "resolve_sql92", "select_properties"]

_TOTAL_MAGIC = struct.Struct(">ii")
_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")


def resolve_sql92(
    filters: ConsumerFilterManager | None,
    group: str,
    sub: SubscriptionData,
    from_header: bool,
) -> CompiledSelector | tuple[ResponseCode, str]:
    """The compiled selector for this pull, or the (code, remark) to answer with."""
    if from_header or filters is None:
        try:
            return compile_selector(sub.sub_string)
        except FilterSyntaxError as exc:
            return (
                ResponseCode.SUBSCRIPTION_PARSE_FAILED,
                f"parse the consumer's subscription[{sub.sub_string}] failed: {exc}",
            )
    data = filters.get(sub.topic, group)
    if data is None or data.compiled is None:
        try:  # say why when the registered expression itself is the problem
            compile_selector(sub.sub_string)
        except FilterSyntaxError as exc:
            return (
                ResponseCode.SUBSCRIPTION_PARSE_FAILED,
                f"parse the consumer's subscription[{sub.sub_string}] failed: {exc}",
            )
        return (
            ResponseCode.FILTER_DATA_NOT_EXIST,
            f"The broker's consumer filter data is not exist!Your expression may be wrong! {sub.sub_string}",
        )
    if data.client_version < sub.sub_version:
        return (
            ResponseCode.FILTER_DATA_NOT_LATEST,
            f"the consumer's consumer filter data not latest, group: {group}, topic: {sub.topic}",
        )
    return data.compiled


def record_properties_text(record: bytes | memoryview) -> str:
    """The encoded properties string of one stored record (storage spec 1.3.1), nothing else decoded.

    Raises:
        ValueError: the record is truncated or its lengths are inconsistent.
    """
    total, magic = _TOTAL_MAGIC.unpack_from(record, 0)
    (sys_flag,) = _I32.unpack_from(record, 36)
    head = head_struct(sys_flag)
    (body_len,) = _I32.unpack_from(record, head.size - 4)
    p = head.size + body_len
    if magic == MESSAGE_MAGIC_CODE:
        topic_len = record[p]
        p += 1 + topic_len
    else:
        (topic_len,) = _I16.unpack_from(record, p)
        p += 2 + topic_len
    (props_len,) = _I16.unpack_from(record, p)
    p += 2
    if body_len < 0 or props_len < 0 or p + props_len > min(total, len(record)):
        raise ValueError("inconsistent record lengths")
    return bytes(record[p : p + props_len]).decode("utf-8")


def _piece_value(piece: str) -> str | None:
    """Value of one ``name\x01value`` piece under Java ``split`` rules (as ``decode_properties``)."""
    parts = piece.split("\x01")
    while len(parts) > 2 and not parts[-1]:
        parts.pop()
    return parts[1] if len(parts) == 2 and parts[1] else None


def select_properties(text: str, names: frozenset[str]) -> dict[str, str]:
    """The values of ``names`` in an encoded properties string, without splitting the whole string
    (a selector reads one to three of ~10 properties). Same result as ``decode_properties``: the
    last well-formed, non-empty occurrence of a name wins."""
    out: dict[str, str] = {}
    for name in names:
        key = f"\x02{name}\x01"
        limit = len(text)
        while True:
            idx = text.rfind(key, 0, limit)
            if idx >= 0:
                start = idx + 1
            elif text.startswith(key[1:]):
                start = 0
            else:
                break
            end = text.find("\x02", start)
            value = _piece_value(text[start:] if end < 0 else text[start:end])
            if value is not None:
                out[name] = value
                break
            if start == 0:
                break
            limit = idx
    return out


def record_filter(selector: CompiledSelector) -> Callable[[bytes], bool]:
    """Commit-log stage test for :meth:`MessageStore.get_message` (raw record in, match out)."""
    matches, names = selector.matches, selector.names

    def accept(record: bytes) -> bool:
        try:
            text = record_properties_text(record)
        except (ValueError, IndexError, struct.error):
            return False
        return matches(select_properties(text, names))

    return accept
