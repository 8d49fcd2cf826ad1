"""kombu message <-> RocketMQ message body.

Layout of the RocketMQ body of a message published through the transport::

    offset  size  field
    0       4     magic  b"KMB1"
    4       4     n, big-endian length of the envelope
    8       n     envelope: JSON {"ct": content-type, "ce": content-encoding,
                  "h": headers, "p": properties, "s": 1 when the kombu body was a str}
    8+n     ...   the kombu body, as bytes (utf-8 when it was a str)

The body is carried raw (no base64, no JSON string escaping) and the envelope is small, so a
Celery task costs one ``orjson`` encode and decode on top of its own serialisation. A message
that lacks the magic (sent by another RocketMQ client) is handed to kombu as an opaque
``application/data`` body with empty headers, so a consumer can still reject it (to the DLQ).
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

__all__ = ["MAGIC", "decode", "encode"]

MAGIC = b"KMB1"
_LEN = struct.Struct(">I")
_HEAD = len(MAGIC) + _LEN.size


def encode(payload: dict[str, Any]) -> bytes:
    """The RocketMQ body for a kombu message dict (``body``, ``headers``, ``properties`` ...)."""
    body = payload.get("body")
    is_str = isinstance(body, str)
    raw = body.encode("utf-8") if isinstance(body, str) else (bytes(body) if body is not None else b"")
    props = dict(payload.get("properties") or {})
    props.pop("delivery_tag", None)
    envelope = {
        "ct": payload.get("content-type"),
        "ce": payload.get("content-encoding"),
        "h": payload.get("headers") or {},
        "p": props,
    }
    if is_str:
        envelope["s"] = 1
    meta = orjson.dumps(envelope, default=str)
    return b"".join((MAGIC, _LEN.pack(len(meta)), meta, raw))


def decode(data: bytes) -> dict[str, Any]:
    """The kombu message dict for a RocketMQ body (``delivery_tag`` is set by the caller)."""
    if data[:4] != MAGIC or len(data) < _HEAD:
        return {
            "body": bytes(data),
            "content-type": "application/data",
            "content-encoding": "binary",
            "headers": {},
            "properties": {"delivery_info": {}},
        }
    (n,) = _LEN.unpack_from(data, 4)
    envelope = orjson.loads(data[_HEAD : _HEAD + n])
    raw = data[_HEAD + n :]
    body: str | bytes = raw.decode("utf-8") if envelope.get("s") else bytes(raw)
    props = envelope.get("p") or {}
    props.setdefault("delivery_info", {})
    return {
        "body": body,
        "content-type": envelope.get("ct"),
        "content-encoding": envelope.get("ce"),
        "headers": envelope.get("h") or {},
        "properties": props,
    }
