"""Bodies of the consumer-administration requests (remoting spec 4.11, storage spec 11.3).

Maps keyed by ``MessageQueue`` are written the way fastjson writes them — the queue's JSON object
as an unquoted key (:func:`broker_core.remoting.fastjson.dumps_object_keys`) — so mqadmin and the Java
client read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from broker_core.remoting import fastjson
from broker_core.remoting.fastjson import ObjectKey

MQ = tuple[str, str, int]  # (topic, broker_name, queue_id)


def mq_key(mq: MQ) -> ObjectKey:
    """A MessageQueue map key in fastjson field order."""
    topic, broker_name, queue_id = mq
    return (("brokerName", broker_name), ("queueId", queue_id), ("topic", topic))


def mq_from_key(key: Any) -> MQ:
    d = dict(key)
    return (str(d["topic"]), str(d["brokerName"]), int(d["queueId"]))


@dataclass(frozen=True, slots=True)
class OffsetWrapper:
    broker_offset: int
    consumer_offset: int
    last_timestamp: int = 0


@dataclass(frozen=True, slots=True)
class ConsumeStats:
    offset_table: dict[MQ, OffsetWrapper]
    consume_tps: float = 0.0

    @property
    def diff_total(self) -> int:
        """Consumer lag: Σ (brokerOffset − consumerOffset)."""
        return sum(w.broker_offset - w.consumer_offset for w in self.offset_table.values())

    def encode(self) -> bytes:
        table = {
            mq_key(mq): {
                "brokerOffset": w.broker_offset,
                "consumerOffset": w.consumer_offset,
                "lastTimestamp": w.last_timestamp,
            }
            for mq, w in sorted(self.offset_table.items())
        }
        return fastjson.dumps_object_keys({"consumeTps": self.consume_tps, "offsetTable": table}).encode()

    @classmethod
    def decode(cls, body: bytes) -> ConsumeStats:
        obj = fastjson.loads_object_keys(body)
        table = {
            mq_from_key(k): OffsetWrapper(
                int(v.get("brokerOffset", 0)), int(v.get("consumerOffset", 0)), int(v.get("lastTimestamp", 0))
            )
            for k, v in (obj.get("offsetTable") or {}).items()
        }
        return cls(table, float(obj.get("consumeTps", 0.0)))


def encode_offset_table(offsets: dict[MQ, int]) -> bytes:
    """``ResetOffsetBody`` / ``GetConsumerStatusBody``-style ``{"offsetTable":{MessageQueue:offset}}``."""
    return fastjson.dumps_object_keys(
        {"offsetTable": {mq_key(mq): o for mq, o in sorted(offsets.items())}}
    ).encode()


def encode_offset_list_for_c(offsets: dict[MQ, int]) -> bytes:
    """``ResetOffsetBodyForC``: the same table as a list of ``MessageQueueForC`` (for C++ requesters)."""
    rows = [
        {"brokerName": b, "offset": o, "queueId": q, "topic": t} for (t, b, q), o in sorted(offsets.items())
    ]
    return json.dumps({"offsetTable": rows}, separators=(",", ":")).encode()


def decode_offset_table(body: bytes) -> dict[MQ, int]:
    obj = fastjson.loads_object_keys(body)
    return {mq_from_key(k): int(v) for k, v in (obj.get("offsetTable") or {}).items()}


@dataclass(frozen=True, slots=True)
class TopicOffset:
    min_offset: int
    max_offset: int
    last_update_timestamp: int = 0


def encode_topic_stats(table: dict[MQ, TopicOffset]) -> bytes:
    """``TopicStatsTable`` for GET_TOPIC_STATS_INFO."""
    out = {
        mq_key(mq): {
            "lastUpdateTimestamp": t.last_update_timestamp,
            "maxOffset": t.max_offset,
            "minOffset": t.min_offset,
        }
        for mq, t in sorted(table.items())
    }
    return fastjson.dumps_object_keys({"offsetTable": out}).encode()


def decode_topic_stats(body: bytes) -> dict[MQ, TopicOffset]:
    obj = fastjson.loads_object_keys(body)
    return {
        mq_from_key(k): TopicOffset(
            int(v.get("minOffset", 0)), int(v.get("maxOffset", 0)), int(v.get("lastUpdateTimestamp", 0))
        )
        for k, v in (obj.get("offsetTable") or {}).items()
    }


@dataclass(frozen=True, slots=True)
class Connection:
    client_id: str
    client_addr: str
    language: str
    version: int

    def to_json(self) -> dict[str, Any]:
        return {
            "clientAddr": self.client_addr,
            "clientId": self.client_id,
            "language": self.language,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class ConsumerConnection:
    connections: list[Connection]
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    consume_type: str = "CONSUME_PASSIVELY"
    message_model: str = "CLUSTERING"
    consume_from_where: str = "CONSUME_FROM_LAST_OFFSET"

    def encode(self) -> bytes:
        return json.dumps(
            {
                "connectionSet": [c.to_json() for c in self.connections],
                "consumeFromWhere": self.consume_from_where,
                "consumeType": self.consume_type,
                "messageModel": self.message_model,
                "subscriptionTable": self.subscriptions,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, body: bytes) -> ConsumerConnection:
        obj = fastjson.loads(body)
        conns = [
            Connection(str(c["clientId"]), str(c["clientAddr"]), str(c["language"]), int(c["version"]))
            for c in obj.get("connectionSet") or []
        ]
        return cls(
            conns,
            dict(obj.get("subscriptionTable") or {}),
            str(obj.get("consumeType", "CONSUME_PASSIVELY")),
            str(obj.get("messageModel", "CLUSTERING")),
            str(obj.get("consumeFromWhere", "CONSUME_FROM_LAST_OFFSET")),
        )


def encode_group_list(groups: set[str]) -> bytes:
    return json.dumps({"groupList": sorted(groups)}).encode()


def decode_group_list(body: bytes) -> list[str]:
    return [str(g) for g in json.loads(body).get("groupList") or []]
