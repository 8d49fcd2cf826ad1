"""Message-trace records in Apache's text encoding (``TraceDataEncoder``, storage spec 9.2).

A trace message body is a run of records; each record's fields are separated by U+0001 and the
record ends with U+0002. Absent strings are written as Java prints ``null``. Decoding accepts the
older layouts Apache's reader accepts (Pub with 13/14/15+ fields, SubAfter with 6/7/9+ fields) and,
like Java's ``String.split``, drops trailing empty pieces.

Record layouts (field order):

=============  ===========================================================================
Pub            Pub, timestamp, regionId, group, topic, msgId, tags, keys, storeHost, bodyLength,
               costTime, msgType, offsetMsgId, success
SubBefore      SubBefore, timestamp, regionId, group, requestId, msgId, retryTimes, keys
SubAfter       SubAfter, requestId, msgId, costTime, success, keys, contextCode, timestamp, group
EndTransaction EndTransaction, timestamp, regionId, group, topic, msgId, tags, keys, storeHost,
               msgType, transactionId, transactionState, fromTransactionCheck
=============  ===========================================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

CONTENT_SPLITOR = "\x01"
FIELD_SPLITOR = "\x02"
TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC"
TRACE_PRODUCER_GROUP_PREFIX = "_INNER_TRACE_PRODUCER"
#: a trace message body is sent once its text reaches maxMessageSize (128,000) - 10,000
MAX_TRACE_MESSAGE_TEXT = 118_000


class TraceType(enum.Enum):
    Pub = "Pub"
    SubBefore = "SubBefore"
    SubAfter = "SubAfter"
    EndTransaction = "EndTransaction"


class MessageType(enum.IntEnum):
    """``MessageType`` ordinals written into the msgType field."""

    Normal_Msg = 0
    Trans_Msg_Half = 1
    Trans_msg_Commit = 2
    Delay_Msg = 3


class ConsumeReturnType(enum.IntEnum):
    """``contextCode`` of SubAfter records."""

    SUCCESS = 0
    TIME_OUT = 1
    EXCEPTION = 2
    RETURNNULL = 3
    FAILED = 4


def _j(value: object) -> str:
    """Java's ``StringBuilder.append`` of a value: ``null``, ``true``/``false``, else str()."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(slots=True)
class TraceBean:
    """One traced message."""

    msg_id: str
    topic: str | None = None
    tags: str | None = None
    keys: str | None = None
    store_host: str | None = None
    client_host: str | None = None
    offset_msg_id: str | None = None
    body_length: int = 0
    msg_type: MessageType = MessageType.Normal_Msg
    retry_times: int = 0
    transaction_id: str | None = None
    transaction_state: str | None = None
    from_transaction_check: bool = False


@dataclass(slots=True)
class TraceContext:
    """One trace event (a send, a consume batch start/end, an end-transaction)."""

    trace_type: TraceType
    time_stamp: int = 0
    region_id: str | None = "DefaultRegion"
    group_name: str | None = None
    cost_time: int = 0
    success: bool = True
    request_id: str | None = None
    context_code: int = 0
    beans: list[TraceBean] = field(default_factory=list)
    cloud: bool = False


def encode_context(ctx: TraceContext) -> str:
    """The record(s) of one context (SubBefore/SubAfter: one per bean)."""
    s, t = CONTENT_SPLITOR, ctx.trace_type
    if t is TraceType.Pub:
        b = ctx.beans[0]
        parts = [t.value, ctx.time_stamp, ctx.region_id, ctx.group_name, b.topic, b.msg_id, b.tags, b.keys,
                 b.store_host, b.body_length, ctx.cost_time, int(b.msg_type), b.offset_msg_id, ctx.success]  # fmt: skip
        return s.join(map(_j, parts)) + FIELD_SPLITOR
    if t is TraceType.SubBefore:
        return "".join(
            s.join(
                map(
                    _j,
                    [
                        t.value,
                        ctx.time_stamp,
                        ctx.region_id,
                        ctx.group_name,
                        ctx.request_id,
                        b.msg_id,
                        b.retry_times,
                        b.keys,
                    ],
                )
            )
            + FIELD_SPLITOR  # fmt: skip
            for b in ctx.beans
        )
    if t is TraceType.SubAfter:
        out = []
        for b in ctx.beans:
            head = s.join(
                map(
                    _j,
                    [t.value, ctx.request_id, b.msg_id, ctx.cost_time, ctx.success, b.keys, ctx.context_code],
                )
            )
            tail = "" if ctx.cloud else _j(ctx.time_stamp) + s + _j(ctx.group_name) + FIELD_SPLITOR
            out.append(head + s + tail)
        return "".join(out)
    b = ctx.beans[0]
    parts = [t.value, ctx.time_stamp, ctx.region_id, ctx.group_name, b.topic, b.msg_id, b.tags, b.keys,
             b.store_host, int(b.msg_type), b.transaction_id, b.transaction_state, b.from_transaction_check]  # fmt: skip
    return s.join(map(_j, parts)) + FIELD_SPLITOR


def trace_keys(ctx: TraceContext) -> list[str]:
    """The KEYS of the trace message carrying ``ctx``: msgIds plus each message key."""
    keys: list[str] = []
    for b in ctx.beans:
        keys.append(b.msg_id)
        if b.keys:
            keys.extend(b.keys.split(" "))
    return keys


def _java_split(text: str, sep: str) -> list[str]:
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _bool(text: str) -> bool:
    return text.lower() == "true"


def _opt(text: str) -> str | None:
    return None if text == "null" else text


def decode_trace_data(text: str) -> list[TraceContext]:
    """All contexts of one trace message body (unknown record types are skipped)."""
    out: list[TraceContext] = []
    for record in _java_split(text, FIELD_SPLITOR):
        f = _java_split(record, CONTENT_SPLITOR)
        if not f:
            continue
        kind = f[0]
        if kind == "Pub" and len(f) >= 13:
            bean = TraceBean(msg_id=f[5], topic=f[4], tags=_opt(f[6]), keys=_opt(f[7]), store_host=f[8],
                             body_length=int(f[9]), msg_type=MessageType(int(f[11])))  # fmt: skip
            ctx = TraceContext(TraceType.Pub, int(f[1]), f[2], f[3], cost_time=int(f[10]), beans=[bean])
            if len(f) == 13:
                ctx.success = _bool(f[12])
            else:
                bean.offset_msg_id = _opt(f[12])
                ctx.success = _bool(f[13])
                if len(f) >= 15:
                    bean.client_host = f[14]
            out.append(ctx)
        elif kind == "SubBefore" and len(f) >= 8:
            bean = TraceBean(msg_id=f[5], retry_times=int(f[6]), keys=_opt(f[7]))
            out.append(
                TraceContext(TraceType.SubBefore, int(f[1]), f[2], f[3], request_id=f[4], beans=[bean])
            )
        elif kind == "SubAfter" and len(f) >= 6:
            bean = TraceBean(msg_id=f[2], keys=_opt(f[5]))
            ctx = TraceContext(TraceType.SubAfter, request_id=f[1], cost_time=int(f[3]), success=_bool(f[4]),
                               beans=[bean], region_id=None)  # fmt: skip
            if len(f) >= 7:
                ctx.context_code = int(f[6])
            if len(f) >= 9:
                ctx.time_stamp, ctx.group_name = int(f[7]), f[8]
            out.append(ctx)
        elif kind == "EndTransaction" and len(f) >= 13:
            bean = TraceBean(msg_id=f[5], topic=f[4], tags=_opt(f[6]), keys=_opt(f[7]), store_host=f[8],
                             msg_type=MessageType(int(f[9])), transaction_id=_opt(f[10]),
                             transaction_state=f[11], from_transaction_check=_bool(f[12]))  # fmt: skip
            out.append(TraceContext(TraceType.EndTransaction, int(f[1]), f[2], f[3], beans=[bean]))
    return out


@dataclass(frozen=True, slots=True)
class TraceView:
    """One step of a message's path, as ``TraceView`` / the admin trace query show it."""

    msg_type: str
    group_name: str | None
    client_host: str
    time_stamp: int
    cost_time: int
    status: str
    msg_id: str
    topic: str | None
    tags: str | None
    keys: str | None
    store_host: str | None
    offset_msg_id: str | None


def views_for(msg_id: str, body: bytes, born_host: str) -> list[TraceView]:
    """Trace views of ``msg_id`` found in one trace message (``TraceView.decodeFromTraceTransData``)."""
    out = []
    for ctx in decode_trace_data(body.decode("utf-8", "replace")):
        bean = ctx.beans[0]
        if bean.msg_id != msg_id:
            continue
        out.append(
            TraceView(
                ctx.trace_type.value,
                ctx.group_name,
                born_host,
                ctx.time_stamp,
                ctx.cost_time,
                "success" if ctx.success else "failed",
                bean.msg_id,
                bean.topic,
                bean.tags,
                bean.keys,
                bean.store_host,
                bean.offset_msg_id,
            )  # fmt: skip
        )
    return out
