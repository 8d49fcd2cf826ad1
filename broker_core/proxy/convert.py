"""v2 ``Message`` <-> remoting message, and the checks Apache's proxy makes before a send.

Both protocols share one store, so the mapping is fixed (Apache 5.x ``MessageConst`` names):

| v2 ``SystemProperties``                  | stored property / field                  |
|------------------------------------------|------------------------------------------|
| ``tag``                                  | ``TAGS``                                 |
| ``keys``                                 | ``KEYS`` (space separated)               |
| ``message_id``                           | ``UNIQ_KEY``                             |
| ``message_group``                        | ``__SHARDINGKEY``                        |
| ``delivery_timestamp``                   | ``TIMER_DELIVER_MS`` (5.x timer)         |
| ``orphaned_transaction_recovery_duration`` | ``CHECK_IMMUNITY_TIME_IN_SECONDS``     |
| ``message_type`` TRANSACTION             | ``TRAN_MSG=true``, sysflag PREPARED      |
| ``born_timestamp``                       | record born timestamp                    |
| ``delivery_attempt``                     | reconsume times + 1                      |
| ``user_properties``                      | the remaining properties                 |

Validation returns a :class:`SendCheck` (a v2 ``Code`` and text) instead of raising: a bad message
in a batch is an expected outcome, reported in its own ``SendResultEntry``.
"""

from __future__ import annotations

import gzip
import re
import time
import zlib
from dataclasses import dataclass
from typing import Any

from broker_core.message.model import MessageExt
from broker_core.message.names import validate_topic
from broker_core.message.properties import MessageConst
from broker_core.message.sysflag import MessageSysFlag
from broker_core.proxy.v2 import definition_pb2 as pb

__all__ = [
    "PROXY_PRODUCER_GROUP",
    "SendCheck",
    "check_message",
    "message_type_of",
    "to_remoting",
    "to_v2",
]

#: producer group the proxy uses for every send and for transaction check-backs
PROXY_PRODUCER_GROUP = "PROXY_PRODUCER_GROUP"
#: Apache proxy defaults (``ProxyConfig``)
MAX_MESSAGE_GROUP_SIZE = 64
MAX_USER_PROPERTY_SIZE = 16 * 1024
MAX_DELAY_MS = 259_200_000  # 3 days, the broker's timerMaxDelaySec

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: names a 5.x client may not use as user properties (the system properties carry them)
_RESERVED = MessageConst.SYSTEM_KEYS | {
    MessageConst.SHARDING_KEY,
    MessageConst.START_DELIVER_TIME,
    MessageConst.TIMER_DELIVER_MS,
    MessageConst.TIMER_DELAY_SEC,
    MessageConst.TIMER_DELAY_MS,
}
_SYSTEM_OUT = _RESERVED | {"POP_CK", "TRACE_CONTEXT", "__BORNHOST"}


@dataclass(frozen=True, slots=True)
class SendCheck:
    code: int
    message: str


def _bad(code: int, text: str) -> SendCheck:
    return SendCheck(code, text)


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def check_message(msg: pb.Message, max_body_size: int, now_ms: int | None = None) -> SendCheck | None:
    """``None`` when ``msg`` may be sent, else the v2 code Apache's proxy answers with."""
    topic = msg.topic.name
    if (why := validate_topic(topic)) is not None:
        return _bad(pb.ILLEGAL_TOPIC, why)
    sp = msg.system_properties
    if not sp.message_id:
        return _bad(pb.ILLEGAL_MESSAGE_ID, "message id is empty")
    if len(msg.body) > max_body_size:
        return _bad(pb.MESSAGE_BODY_TOO_LARGE, f"message body {len(msg.body)} exceeds {max_body_size} bytes")
    if not msg.body:
        return _bad(pb.MESSAGE_BODY_EMPTY, "message body is empty")
    if sp.HasField("tag") and (not sp.tag.strip() or "|" in sp.tag or _has_control(sp.tag)):
        return _bad(pb.ILLEGAL_MESSAGE_TAG, f"illegal tag {sp.tag!r}")
    for key in sp.keys:
        if not key.strip() or _has_control(key):
            return _bad(pb.ILLEGAL_MESSAGE_KEY, f"illegal key {key!r}")
    size = 0
    for name, value in msg.user_properties.items():
        if name in _RESERVED or not name or _has_control(name) or "\x01" in value or "\x02" in value:
            return _bad(pb.ILLEGAL_MESSAGE_PROPERTY_KEY, f"illegal user property {name!r}")
        size += len(name) + len(value)
    if size > MAX_USER_PROPERTY_SIZE:
        return _bad(pb.MESSAGE_PROPERTIES_TOO_LARGE, "user properties too large")
    if sp.HasField("message_group"):
        group = sp.message_group
        if not group.strip() or len(group) > MAX_MESSAGE_GROUP_SIZE or _has_control(group):
            return _bad(pb.ILLEGAL_MESSAGE_GROUP, f"illegal message group {group!r}")
    if sp.HasField("delivery_timestamp"):
        at = sp.delivery_timestamp.seconds * 1000 + sp.delivery_timestamp.nanos // 1_000_000
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if at - now > MAX_DELAY_MS:
            return _bad(pb.ILLEGAL_DELIVERY_TIME, "delivery time is too far in the future")
    mtype = sp.message_type
    if mtype == pb.FIFO and not sp.HasField("message_group"):
        return _bad(pb.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE, "FIFO message without message group")
    if mtype == pb.DELAY and not sp.HasField("delivery_timestamp"):
        return _bad(pb.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE, "DELAY message without delivery timestamp")
    if mtype == pb.TRANSACTION and (sp.HasField("delivery_timestamp") or sp.HasField("message_group")):
        return _bad(pb.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE, "TRANSACTION message with group or delay")
    return None


@dataclass(frozen=True, slots=True)
class RemotingMessage:
    topic: str
    body: bytes
    properties: dict[str, str]
    sys_flag: int
    born_timestamp: int


def to_remoting(msg: pb.Message) -> RemotingMessage:
    """The remoting form of a checked v2 message (body decompressed when GZIP)."""
    sp = msg.system_properties
    props: dict[str, str] = dict(msg.user_properties)
    if sp.HasField("tag"):
        props[MessageConst.TAGS] = sp.tag
    if sp.keys:
        props[MessageConst.KEYS] = MessageConst.KEY_SEPARATOR.join(sp.keys)
    props[MessageConst.UNIQ_KEY] = sp.message_id
    if sp.HasField("message_group"):
        props[MessageConst.SHARDING_KEY] = sp.message_group
    if sp.HasField("delivery_timestamp"):
        at = sp.delivery_timestamp.seconds * 1000 + sp.delivery_timestamp.nanos // 1_000_000
        props[MessageConst.TIMER_DELIVER_MS] = str(at)
    if sp.HasField("trace_context") and sp.trace_context:
        props["TRACE_CONTEXT"] = sp.trace_context
    sys_flag = 0
    if sp.message_type == pb.TRANSACTION:
        props[MessageConst.TRAN_MSG] = "true"
        props[MessageConst.PGROUP] = PROXY_PRODUCER_GROUP
        sys_flag |= MessageSysFlag.TRANSACTION_PREPARED
        if sp.HasField("orphaned_transaction_recovery_duration"):
            seconds = sp.orphaned_transaction_recovery_duration.seconds
            props[MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS] = str(max(seconds, 1))
    body = gzip.decompress(msg.body) if sp.body_encoding == pb.GZIP else msg.body
    born = sp.born_timestamp.seconds * 1000 + sp.born_timestamp.nanos // 1_000_000
    return RemotingMessage(
        msg.topic.name, body, props, sys_flag, born if born > 0 else int(time.time() * 1000)
    )


def message_type_of(props: dict[str, str]) -> int:
    """The v2 ``MessageType`` a stored message was sent as."""
    if props.get(MessageConst.TRAN_MSG) == "true":
        return pb.TRANSACTION
    if MessageConst.SHARDING_KEY in props:
        return pb.FIFO
    if MessageConst.TIMER_DELIVER_MS in props or MessageConst.DELAY in props:
        return pb.DELAY
    return pb.NORMAL


def _set_ms(ts: Any, ms: int) -> None:
    seconds, millis = divmod(ms, 1000)
    ts.seconds, ts.nanos = seconds, millis * 1_000_000


def to_v2(
    ext: MessageExt, *, receipt_handle: str | None = None, invisible_ms: int | None = None
) -> pb.Message:
    """A stored message as a v2 ``Message`` (retry-topic copies show their original topic)."""
    props = ext.properties
    out = pb.Message()
    out.topic.name = (
        props.get(MessageConst.RETRY_TOPIC, ext.topic) if ext.topic.startswith("%RETRY%") else ext.topic
    )
    body = ext.body
    out.body = body
    sp = out.system_properties
    for name, value in props.items():
        if name not in _SYSTEM_OUT:
            out.user_properties[name] = value
    if (tag := props.get(MessageConst.TAGS)) is not None:
        sp.tag = tag
    if keys := props.get(MessageConst.KEYS):
        sp.keys.extend(k for k in keys.split(MessageConst.KEY_SEPARATOR) if k)
    sp.message_id = ext.msg_id
    sp.body_digest.type = pb.CRC32
    sp.body_digest.checksum = f"{zlib.crc32(body) & 0xFFFFFFFF:08X}"
    sp.body_encoding = pb.IDENTITY
    sp.message_type = message_type_of(props)  # type: ignore[assignment]
    _set_ms(sp.born_timestamp, ext.born_timestamp)
    sp.born_host = ext.born_host[0]
    _set_ms(sp.store_timestamp, ext.store_timestamp)
    sp.store_host = f"{ext.store_host[0]}:{ext.store_host[1]}"
    if (deliver := props.get(MessageConst.TIMER_DELIVER_MS)) and deliver.isdigit():
        _set_ms(sp.delivery_timestamp, int(deliver))
    if receipt_handle is not None:
        sp.receipt_handle = receipt_handle
    if invisible_ms is not None:
        sp.invisible_duration.seconds, rest = divmod(invisible_ms, 1000)
        sp.invisible_duration.nanos = rest * 1_000_000
    sp.queue_id = ext.queue_id
    sp.queue_offset = ext.queue_offset
    sp.delivery_attempt = ext.reconsume_times + 1
    if (group := props.get(MessageConst.SHARDING_KEY)) is not None:
        sp.message_group = group
    if (trace := props.get("TRACE_CONTEXT")) is not None:
        sp.trace_context = trace
    return out
