"""Topic configuration bodies shared by the broker (``topics.json``) and the NameServer.

JSON shapes (fastjson field names, alphabetical on output; unknown keys ignored on input)::

    TopicConfig  {"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",
                  "topicName":"T","topicSysFlag":0,"writeQueueNums":4}
    DataVersion  {"counter":3,"timestamp":1700000000000}
    TopicConfigSerializeWrapper {"dataVersion":{…},"topicConfigTable":{"T":TopicConfig,…}}

``TopicConfig.encode()`` is the space-separated text form used inside the compressed
REGISTER_BROKER body (``"topicName readQueueNums writeQueueNums perm topicFilterType"``); it drops
``topicSysFlag`` and ``order``, exactly as Java's ``TopicConfig.encode`` does.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from broker_core.remoting import fastjson

__all__ = [
    "PERM_INHERIT",
    "PERM_PRIORITY",
    "PERM_READ",
    "PERM_WRITE",
    "DataVersion",
    "TopicConfig",
    "TopicConfigSerializeWrapper",
    "TopicFilterType",
]

#: ``PermName`` bits (remoting spec 6.5).
PERM_PRIORITY = 0x8
PERM_READ = 0x4
PERM_WRITE = 0x2
PERM_INHERIT = 0x1

_SEPARATOR = " "


class TopicFilterType(enum.StrEnum):
    """How tags are attached to messages of a topic (only informational for the broker)."""

    SINGLE_TAG = "SINGLE_TAG"
    MULTI_TAG = "MULTI_TAG"


def _int(obj: Mapping[str, Any], key: str, default: int) -> int:
    value = obj.get(key)
    return default if value is None else int(value)


@dataclass(frozen=True, slots=True)
class TopicConfig:
    """One topic as the broker knows it. Defaults are Java's (16/16 queues, perm RW)."""

    topic_name: str
    read_queue_nums: int = 16
    write_queue_nums: int = 16
    perm: int = PERM_READ | PERM_WRITE
    topic_filter_type: TopicFilterType = TopicFilterType.SINGLE_TAG
    topic_sys_flag: int = 0
    order: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "perm": self.perm,
            "readQueueNums": self.read_queue_nums,
            "topicFilterType": str(self.topic_filter_type),
            "topicName": self.topic_name,
            "topicSysFlag": self.topic_sys_flag,
            "writeQueueNums": self.write_queue_nums,
        }

    @classmethod
    def from_json_dict(cls, obj: Mapping[str, Any], topic_name: str | None = None) -> TopicConfig:
        """Parse one entry; ``topic_name`` (the table key) is used when the entry lacks a name."""
        name = obj.get("topicName") or topic_name
        if not name:
            raise ValueError("TopicConfig without topicName")
        return cls(
            topic_name=str(name),
            read_queue_nums=_int(obj, "readQueueNums", 16),
            write_queue_nums=_int(obj, "writeQueueNums", 16),
            perm=_int(obj, "perm", PERM_READ | PERM_WRITE),
            topic_filter_type=TopicFilterType(obj.get("topicFilterType") or "SINGLE_TAG"),
            topic_sys_flag=_int(obj, "topicSysFlag", 0),
            order=bool(obj.get("order", False)),
        )

    def encode(self) -> str:
        """The compressed-registration text form (no sysflag, no order)."""
        return _SEPARATOR.join(
            (
                self.topic_name,
                str(self.read_queue_nums),
                str(self.write_queue_nums),
                str(self.perm),
                str(self.topic_filter_type),
            )
        )

    @classmethod
    def decode(cls, text: str) -> TopicConfig:
        """Parse :meth:`encode` output; a 5.x trailing attributes JSON is ignored.

        Raises:
            ValueError: fewer than five fields or non-numeric counts.
        """
        parts = text.split(_SEPARATOR, 5)
        if len(parts) < 5:
            raise ValueError(f"bad encoded TopicConfig: {text!r}")
        return cls(
            topic_name=parts[0],
            read_queue_nums=int(parts[1]),
            write_queue_nums=int(parts[2]),
            perm=int(parts[3]),
            topic_filter_type=TopicFilterType(parts[4]),
        )


@dataclass(frozen=True, slots=True)
class DataVersion:
    """Version stamp of a broker's topic table; the NameServer compares it to skip unchanged tables.

    Equality is field equality (timestamp and counter), as in Java.
    """

    timestamp: int = 0
    counter: int = 0

    @classmethod
    def now(cls) -> DataVersion:
        return cls(timestamp=int(time.time() * 1000), counter=0)

    def next_version(self, now_ms: int | None = None) -> DataVersion:
        """The version after a change: counter + 1, timestamp = now (Java ``nextVersion``)."""
        ts = int(time.time() * 1000) if now_ms is None else now_ms
        return DataVersion(timestamp=ts, counter=self.counter + 1)

    def to_json_dict(self) -> dict[str, Any]:
        return {"counter": self.counter, "timestamp": self.timestamp}

    def to_json(self) -> bytes:
        return fastjson.dumps(self.to_json_dict()).encode("utf-8")

    @classmethod
    def from_json_dict(cls, obj: Mapping[str, Any] | None) -> DataVersion:
        if not obj:
            return cls()
        return cls(timestamp=_int(obj, "timestamp", 0), counter=_int(obj, "counter", 0))

    @classmethod
    def from_json(cls, data: bytes | str) -> DataVersion:
        obj = fastjson.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("DataVersion JSON is not an object")
        return cls.from_json_dict(obj)


@dataclass(frozen=True, slots=True)
class TopicConfigSerializeWrapper:
    """A broker's whole topic table plus its version (``topics.json`` and registration body)."""

    topic_config_table: Mapping[str, TopicConfig] = field(default_factory=dict)
    data_version: DataVersion = field(default_factory=DataVersion)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "dataVersion": self.data_version.to_json_dict(),
            "topicConfigTable": {name: tc.to_json_dict() for name, tc in self.topic_config_table.items()},
        }

    def to_json(self, *, pretty: bool = False) -> bytes:
        """fastjson text; ``pretty`` gives the tab-indented form Java writes to ``topics.json``."""
        return fastjson.dumps(self.to_json_dict(), pretty=pretty).encode("utf-8")

    @classmethod
    def from_json_dict(cls, obj: Mapping[str, Any]) -> TopicConfigSerializeWrapper:
        table_obj = obj.get("topicConfigTable") or {}
        table = {str(k): TopicConfig.from_json_dict(v, str(k)) for k, v in table_obj.items()}
        return cls(topic_config_table=table, data_version=DataVersion.from_json_dict(obj.get("dataVersion")))

    @classmethod
    def from_json(cls, data: bytes | str) -> TopicConfigSerializeWrapper:
        obj = fastjson.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("TopicConfigSerializeWrapper JSON is not an object")
        return cls.from_json_dict(obj)
