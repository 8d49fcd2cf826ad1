"""``RegisterBrokerBody``: the REGISTER_BROKER request body, plain JSON or zlib-compressed.

Uncompressed (header ``compressed=false``, the default)::

    {"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{…},"topicConfigTable":{…}}}

Compressed (header ``compressed=true``): one zlib stream (RFC 1950 header, Java
``Deflater(BEST_COMPRESSION)``) of

| size    | field                                                             |
|---------|-------------------------------------------------------------------|
| 4       | n = length of the DataVersion JSON                                |
| n       | DataVersion JSON (UTF-8)                                          |
| 4       | topic count                                                       |
| 4 + m   | per topic: length, then ``TopicConfig.encode()`` text (UTF-8)    |
| 4 + k   | length, then the filter server list as a JSON array of strings    |

All ints big-endian. The compressed form loses ``topicSysFlag`` and ``order`` (Java does the same).

Brokers older than V3_0_11 (version ordinal 37) sent a bare ``TopicConfigSerializeWrapper`` instead;
:meth:`RegisterBrokerBody.decode` accepts that when told the request version.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from broker_core.remoting import fastjson
from broker_core.remoting.body.topic_config import DataVersion, TopicConfig, TopicConfigSerializeWrapper

__all__ = ["V3_0_11", "RegisterBrokerBody", "body_crc32"]

#: ``MQVersion.Version.V3_0_11`` ordinal: brokers at or above it send a RegisterBrokerBody.
V3_0_11 = 37

_INT = struct.Struct(">i")
assert _INT.size == 4


def body_crc32(data: bytes | None) -> int:
    """``UtilAll.crc32``: CRC-32 with the sign bit cleared (0 for no body)."""
    if not data:
        return 0
    return zlib.crc32(data) & 0x7FFFFFFF


class _Reader:
    """Bounds-checked reads over the inflated compressed body."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def int(self) -> int:
        if self._pos + 4 > len(self._data):
            raise ValueError("compressed RegisterBrokerBody is truncated")
        (value,) = _INT.unpack_from(self._data, self._pos)
        self._pos += 4
        return int(value)

    def chunk(self) -> bytes:
        n = self.int()
        if n < 0 or self._pos + n > len(self._data):
            raise ValueError(f"compressed RegisterBrokerBody: bad length {n}")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out


@dataclass(frozen=True, slots=True)
class RegisterBrokerBody:
    """What a broker registers: its topic table (with version) and filter servers."""

    topic_config_wrapper: TopicConfigSerializeWrapper = field(default_factory=TopicConfigSerializeWrapper)
    filter_server_list: Sequence[str] = ()

    # ------------------------------------------------------------------ JSON form
    def to_json_dict(self) -> dict[str, Any]:
        return {
            "filterServerList": list(self.filter_server_list),
            "topicConfigSerializeWrapper": self.topic_config_wrapper.to_json_dict(),
        }

    def to_json(self) -> bytes:
        return fastjson.dumps(self.to_json_dict()).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> RegisterBrokerBody:
        obj = fastjson.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("RegisterBrokerBody JSON is not an object")
        wrapper = TopicConfigSerializeWrapper.from_json_dict(obj.get("topicConfigSerializeWrapper") or {})
        return cls(wrapper, tuple(str(s) for s in obj.get("filterServerList") or ()))

    # ------------------------------------------------------------------ either form
    def encode(self, compress: bool = False) -> bytes:
        """The request body; ``compress`` selects the zlib binary form."""
        if not compress:
            return self.to_json()
        parts: list[bytes] = []

        def put(chunk: bytes) -> None:
            parts.append(_INT.pack(len(chunk)))
            parts.append(chunk)

        put(self.topic_config_wrapper.data_version.to_json())
        parts.append(_INT.pack(len(self.topic_config_wrapper.topic_config_table)))
        for tc in self.topic_config_wrapper.topic_config_table.values():
            put(tc.encode().encode("utf-8"))
        put(json.dumps(list(self.filter_server_list), separators=(",", ":")).encode("utf-8"))
        return zlib.compress(b"".join(parts), 9)

    @classmethod
    def decode(cls, data: bytes, compressed: bool = False, version: int = V3_0_11) -> RegisterBrokerBody:
        """Parse a request body.

        Args:
            data: the body bytes.
            compressed: the request header's ``compressed`` flag.
            version: the request's version; below :data:`V3_0_11` the body is a bare wrapper.

        Raises:
            ValueError: malformed JSON, zlib stream or binary layout.
        """
        if not compressed:
            if version < V3_0_11:
                return cls(TopicConfigSerializeWrapper.from_json(data), ())
            return cls.from_json(data)
        try:
            raw = zlib.decompress(data)
        except zlib.error as exc:
            raise ValueError(f"compressed RegisterBrokerBody: {exc}") from exc
        reader = _Reader(raw)
        data_version = DataVersion.from_json(reader.chunk())
        count = reader.int()
        if count < 0:
            raise ValueError(f"compressed RegisterBrokerBody: bad topic count {count}")
        table: dict[str, TopicConfig] = {}
        for _ in range(count):
            tc = TopicConfig.decode(reader.chunk().decode("utf-8"))
            table[tc.topic_name] = tc
        servers = fastjson.loads(reader.chunk()) or []
        if not isinstance(servers, list):
            raise ValueError("compressed RegisterBrokerBody: filter server list is not an array")
        return cls(TopicConfigSerializeWrapper(table, data_version), tuple(str(s) for s in servers))
