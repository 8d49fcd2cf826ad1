"""Small list/map bodies: ``KVTable`` (``{"table":{k:v}}``) and ``TopicList``.

``TopicList`` is ``{"brokerAddr":"ip:port","topicList":["A","B"]}``; ``brokerAddr`` is only set by
GET_SYSTEM_TOPIC_LIST_FROM_NS (and omitted when null, as fastjson omits null fields).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from broker_core.remoting import fastjson

__all__ = ["KVTable", "TopicList"]


def _object(data: bytes | str, what: str) -> dict[str, Any]:
    obj = fastjson.loads(data)
    if not isinstance(obj, dict):
        raise ValueError(f"{what} JSON is not an object")
    return obj


@dataclass(frozen=True, slots=True)
class KVTable:
    """A string map (KV config namespace listing, broker runtime info)."""

    table: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return fastjson.dumps({"table": dict(self.table)}).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> KVTable:
        table = _object(data, "KVTable").get("table") or {}
        return cls(table={str(k): "" if v is None else str(v) for k, v in table.items()})


@dataclass(frozen=True, slots=True)
class TopicList:
    """A list of topic names, optionally with one broker address."""

    topic_list: Sequence[str] = ()
    broker_addr: str | None = None

    def to_json(self) -> bytes:
        obj: dict[str, Any] = {}
        if self.broker_addr is not None:
            obj["brokerAddr"] = self.broker_addr
        obj["topicList"] = list(self.topic_list)
        return fastjson.dumps(obj).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> TopicList:
        obj = _object(data, "TopicList")
        addr = obj.get("brokerAddr")
        return cls(
            topic_list=tuple(str(t) for t in obj.get("topicList") or ()),
            broker_addr=None if addr is None else str(addr),
        )
