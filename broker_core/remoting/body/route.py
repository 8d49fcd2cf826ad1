"""Route bodies: ``QueueData``, ``BrokerData`` and ``TopicRouteData`` (GET_ROUTEINFO_BY_TOPIC).

Wire shape (fastjson bean fields are alphabetical)::

    {"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"C"}],
     "filterServerTable":{},
     "orderTopicConf":"broker-a:4",            <- only when set
     "queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}

``brokerAddrs`` maps brokerId (a Java ``Long``) to ``ip:port``. Apache's NameServer has two output
dialects, both reproduced by :meth:`TopicRouteData.to_json`:

* fastjson default (``standard=False``): integer keys **unquoted**, non-ASCII written raw. Sent to
  requests with version < 401 (V4_9_4) that do not ask for ``acceptStandardJsonOnly`` — the C++
  1.2.x client and ali-ons parse only this.
* standard (``standard=True``): quoted keys, map keys sorted, non-ASCII escaped as ``\\uXXXX``
  (fastjson BrowserCompatible + QuoteFieldNames + MapSortField).

:meth:`TopicRouteData.from_json` reads either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from broker_core.remoting import fastjson
from broker_core.remoting.body.topic_config import PERM_READ, PERM_WRITE

__all__ = ["MASTER_ID", "BrokerData", "QueueData", "TopicRouteData", "dumps_dialect"]

#: brokerId of a master (``MixAll.MASTER_ID``).
MASTER_ID = 0


def dumps_dialect(obj: Any, *, standard: bool) -> bytes:
    """Serialise a JSON-ready structure (int keys allowed) in one of the two NameServer dialects.

    ``standard=False`` keeps int keys bare (fastjson default); ``standard=True`` quotes them,
    sorts every map's keys (numerically for int keys, as a Java ``TreeMap`` of ``Long`` would)
    and escapes non-ASCII.
    """
    if not standard:
        return fastjson.dumps(obj, unquoted_int_keys=True).encode("utf-8")
    return json.dumps(_sorted_str_keys(obj), ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _sorted_str_keys(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _sorted_str_keys(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list | tuple):
        return [_sorted_str_keys(v) for v in obj]
    return obj


@dataclass(frozen=True, slots=True)
class QueueData:
    """The queues one broker group (``brokerName``) serves for a topic."""

    broker_name: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_sys_flag: int = 0

    @property
    def readable(self) -> bool:
        return bool(self.perm & PERM_READ)

    @property
    def writable(self) -> bool:
        return bool(self.perm & PERM_WRITE)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "brokerName": self.broker_name,
            "perm": self.perm,
            "readQueueNums": self.read_queue_nums,
            "topicSysFlag": self.topic_sys_flag,
            "writeQueueNums": self.write_queue_nums,
        }

    @classmethod
    def from_json_dict(cls, obj: Mapping[str, Any]) -> QueueData:
        return cls(
            broker_name=str(obj["brokerName"]),
            read_queue_nums=int(obj.get("readQueueNums", 0)),
            write_queue_nums=int(obj.get("writeQueueNums", 0)),
            perm=int(obj.get("perm", 0)),
            topic_sys_flag=int(obj.get("topicSysFlag", 0)),
        )


@dataclass(frozen=True, slots=True)
class BrokerData:
    """A broker group: its cluster, name and ``brokerId -> ip:port`` (0 = master)."""

    cluster: str
    broker_name: str
    broker_addrs: Mapping[int, str] = field(default_factory=dict)

    @property
    def master_addr(self) -> str | None:
        return self.broker_addrs.get(MASTER_ID)

    def select_broker_addr(self) -> str | None:
        """The master address, else the lowest-id slave (what a consumer falls back to)."""
        master = self.master_addr
        if master is not None:
            return master
        return self.broker_addrs[min(self.broker_addrs)] if self.broker_addrs else None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "brokerAddrs": {bid: self.broker_addrs[bid] for bid in sorted(self.broker_addrs)},
            "brokerName": self.broker_name,
            "cluster": self.cluster,
        }

    @classmethod
    def from_json_dict(cls, obj: Mapping[str, Any]) -> BrokerData:
        addrs = obj.get("brokerAddrs") or {}
        return cls(
            cluster=str(obj.get("cluster", "")),
            broker_name=str(obj["brokerName"]),
            broker_addrs={int(k): str(v) for k, v in addrs.items()},
        )


@dataclass(frozen=True, slots=True)
class TopicRouteData:
    """Where a topic lives: queue counts per broker group and the groups' addresses."""

    queue_datas: Sequence[QueueData] = ()
    broker_datas: Sequence[BrokerData] = ()
    filter_server_table: Mapping[str, Sequence[str]] = field(default_factory=dict)
    order_topic_conf: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "brokerDatas": [bd.to_json_dict() for bd in self.broker_datas],
            "filterServerTable": {k: list(v) for k, v in self.filter_server_table.items()},
        }
        if self.order_topic_conf is not None:
            out["orderTopicConf"] = self.order_topic_conf
        out["queueDatas"] = [qd.to_json_dict() for qd in self.queue_datas]
        return out

    def to_json(self, standard: bool) -> bytes:
        """Encode in the requested NameServer dialect (see the module docstring)."""
        return dumps_dialect(self.to_json_dict(), standard=standard)

    @classmethod
    def from_json_dict(cls, obj: Mapping[str, Any]) -> TopicRouteData:
        fst = obj.get("filterServerTable") or {}
        conf = obj.get("orderTopicConf")
        return cls(
            queue_datas=tuple(QueueData.from_json_dict(q) for q in obj.get("queueDatas") or ()),
            broker_datas=tuple(BrokerData.from_json_dict(b) for b in obj.get("brokerDatas") or ()),
            filter_server_table={str(k): tuple(str(s) for s in v or ()) for k, v in fst.items()},
            order_topic_conf=None if conf is None else str(conf),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> TopicRouteData:
        """Parse either dialect.

        Raises:
            ValueError: not a JSON object (``json.JSONDecodeError`` is a ``ValueError``).
        """
        obj = fastjson.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("TopicRouteData JSON is not an object")
        return cls.from_json_dict(obj)
