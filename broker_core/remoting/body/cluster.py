"""``ClusterInfo`` (GET_BROKER_CLUSTER_INFO body).

``{"brokerAddrTable":{"broker-a":BrokerData,…},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}``

Apache always writes it in fastjson's default dialect (unquoted ``brokerAddrs`` keys), whatever the
request version — the captured 4.9.8 response to a 5.x admin request is unquoted too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from broker_core.remoting import fastjson
from broker_core.remoting.body.route import BrokerData, dumps_dialect

__all__ = ["ClusterInfo"]


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """All broker groups and the cluster -> broker names index."""

    broker_addr_table: Mapping[str, BrokerData] = field(default_factory=dict)
    cluster_addr_table: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "brokerAddrTable": {name: bd.to_json_dict() for name, bd in self.broker_addr_table.items()},
            "clusterAddrTable": {c: list(names) for c, names in self.cluster_addr_table.items()},
        }

    def to_json(self, standard: bool = False) -> bytes:
        return dumps_dialect(self.to_json_dict(), standard=standard)

    @classmethod
    def from_json(cls, data: bytes | str) -> ClusterInfo:
        obj = fastjson.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("ClusterInfo JSON is not an object")
        bat = obj.get("brokerAddrTable") or {}
        cat = obj.get("clusterAddrTable") or {}
        return cls(
            broker_addr_table={str(k): BrokerData.from_json_dict(v) for k, v in bat.items()},
            cluster_addr_table={str(k): tuple(str(n) for n in v or ()) for k, v in cat.items()},
        )
