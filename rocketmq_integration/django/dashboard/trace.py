"""Message trace: the records clients with tracing on write to the trace topic, decoded.

A client with message trace enabled (Java ``enableMsgTrace``, rocketmq-spring
``enable-msg-trace``) sends, for each produce / consume / end-transaction, a message to the trace
topic (``RMQ_SYS_TRACE_TOPIC`` unless customised; the broker creates it with
``traceTopicEnable=true``) whose KEYS hold the traced msgId, and whose body is one or more records
separated by ``\\x02``, each a ``\\x01``-separated field list (Apache ``TraceDataEncoder``):

==============  =============================================================================
type            fields after the type
==============  =============================================================================
Pub             timestamp, region, producer group, topic, msgId, tags, keys, store host,
                body length, cost ms, message type, [offset msgId], success, [client host]
SubBefore       timestamp, region, consumer group, request id, msgId, retry times, keys
SubAfter        request id, msgId, cost ms, success, keys, [context code], [timestamp]
EndTransaction  timestamp, region, producer group, topic, msgId, tags, keys, store host,
                message type, transaction id, transaction state, from check
==============  =============================================================================

The dashboard looks traces up by key in the trace topic; a cluster without that topic has no
trace to show.
"""

from __future__ import annotations

from dataclasses import dataclass

from rocketmq_integration.client import Admin

__all__ = ["DEFAULT_TRACE_TOPIC", "TraceRecord", "decode", "lookup"]

DEFAULT_TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC"
CONTENT_SEP = "\x01"
FIELD_SEP = "\x02"


@dataclass(frozen=True)
class TraceRecord:
    """One trace event of a message (fields not carried by a type are empty / 0)."""

    type: str
    msg_id: str
    timestamp: int = 0
    group: str = ""
    topic: str = ""
    tags: str = ""
    keys: str = ""
    store_host: str = ""
    cost_ms: int = 0
    success: bool | None = None
    request_id: str = ""
    retry_times: int = 0
    transaction_state: str = ""


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _bool(text: str) -> bool:
    return text.strip().lower() == "true"


def _record(f: list[str]) -> TraceRecord | None:
    kind = f[0]
    if kind == "Pub" and len(f) >= 13:
        success = _bool(f[13]) if len(f) >= 14 else _bool(f[12])
        return TraceRecord(
            kind, f[5], _int(f[1]), f[3], f[4], f[6], f[7], f[8], cost_ms=_int(f[10]), success=success
        )
    if kind == "SubBefore" and len(f) >= 8:
        return TraceRecord(kind, f[5], _int(f[1]), f[3], keys=f[7], request_id=f[4], retry_times=_int(f[6]))
    if kind == "SubAfter" and len(f) >= 6:
        ts = _int(f[7]) if len(f) >= 8 else 0
        return TraceRecord(
            kind, f[2], ts, keys=f[5], cost_ms=_int(f[3]), success=_bool(f[4]), request_id=f[1]
        )
    if kind == "EndTransaction" and len(f) >= 13:
        return TraceRecord(kind, f[5], _int(f[1]), f[3], f[4], f[6], f[7], f[8], transaction_state=f[11])
    return None


def decode(body: str) -> list[TraceRecord]:
    """Every well-formed record in a trace message body (unknown or short records are skipped)."""
    out = []
    for chunk in body.split(FIELD_SEP):
        if chunk:
            rec = _record(chunk.split(CONTENT_SEP))
            if rec is not None:
                out.append(rec)
    return out


async def lookup(
    admin: Admin, msg_id: str, trace_topic: str = DEFAULT_TRACE_TOPIC
) -> list[TraceRecord] | None:
    """Trace records of ``msg_id`` in time order; ``None`` when the cluster has no trace topic."""
    if trace_topic not in await admin.topic_list():
        return None
    records: list[TraceRecord] = []
    for msg in await admin.query_message(trace_topic, msg_id, max_num=64):
        records += [r for r in decode(msg.body.decode("utf-8", "replace")) if r.msg_id == msg_id]
    # SubAfter of old clients has no timestamp: keep it after its SubBefore (same request id)
    before = {r.request_id: r.timestamp for r in records if r.type == "SubBefore"}
    return sorted(records, key=lambda r: (r.timestamp or before.get(r.request_id, 0), r.type != "SubBefore"))
