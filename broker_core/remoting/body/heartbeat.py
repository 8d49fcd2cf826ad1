"""HEART_BEAT (34) body ``HeartbeatData`` and its parts, plus queue-lock and consumer-list bodies.

Enum values travel as their Java names (``"CLUSTERING"``, ``"CONSUME_PASSIVELY"``); field names are
the Java ones. Unknown fields are ignored on input so newer clients keep working.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from broker_core.message.properties import java_string_hash as java_hash
from broker_core.remoting import fastjson

__all__ = [
    "ConsumerData",
    "HeartbeatData",
    "LockBatchBody",
    "SubscriptionData",
    "java_hash",
    "parse_tags",
]

SUB_ALL = "*"


def parse_tags(expression: str | None) -> list[str]:
    """Tags of a TAG expression: ``"a || b"`` -> ``["a", "b"]``; ``"*"`` or empty -> ``[]``."""
    if not expression or expression.strip() == SUB_ALL:
        return []
    return [t.strip() for t in expression.split("||") if t.strip()]


@dataclass(slots=True)
class SubscriptionData:
    topic: str
    sub_string: str = SUB_ALL
    tags_set: list[str] = field(default_factory=list)
    code_set: list[int] = field(default_factory=list)
    sub_version: int = 0
    expression_type: str = "TAG"
    class_filter_mode: bool = False

    @classmethod
    def build(
        cls, topic: str, expression: str | None, sub_version: int, expression_type: str = "TAG"
    ) -> SubscriptionData:
        expr = (expression or SUB_ALL).strip() or SUB_ALL
        tags = parse_tags(expr) if expression_type == "TAG" else []
        return cls(topic, expr, tags, [java_hash(t) for t in tags], sub_version, expression_type)

    def to_json(self) -> dict[str, Any]:
        return {
            "classFilterMode": self.class_filter_mode,
            "codeSet": self.code_set,
            "expressionType": self.expression_type,
            "subString": self.sub_string,
            "subVersion": self.sub_version,
            "tagsSet": self.tags_set,
            "topic": self.topic,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SubscriptionData:
        sub = str(d.get("subString") or SUB_ALL)
        expr_type = str(d.get("expressionType") or "TAG")
        tags = [str(t) for t in d.get("tagsSet") or []]
        if not tags and expr_type == "TAG":
            tags = parse_tags(sub)
        codes = [int(c) for c in d.get("codeSet") or []] or [java_hash(t) for t in tags]
        return cls(
            topic=str(d.get("topic", "")),
            sub_string=sub,
            tags_set=tags,
            code_set=codes,
            sub_version=int(d.get("subVersion") or 0),
            expression_type=expr_type,
            class_filter_mode=bool(d.get("classFilterMode", False)),
        )


@dataclass(slots=True)
class ConsumerData:
    group_name: str
    consume_type: str = "CONSUME_PASSIVELY"
    message_model: str = "CLUSTERING"
    consume_from_where: str = "CONSUME_FROM_LAST_OFFSET"
    subscriptions: list[SubscriptionData] = field(default_factory=list)
    unit_mode: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "consumeFromWhere": self.consume_from_where,
            "consumeType": self.consume_type,
            "groupName": self.group_name,
            "messageModel": self.message_model,
            "subscriptionDataSet": [s.to_json() for s in self.subscriptions],
            "unitMode": self.unit_mode,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConsumerData:
        return cls(
            group_name=str(d.get("groupName", "")),
            consume_type=str(d.get("consumeType") or "CONSUME_PASSIVELY"),
            message_model=str(d.get("messageModel") or "CLUSTERING"),
            consume_from_where=str(d.get("consumeFromWhere") or "CONSUME_FROM_LAST_OFFSET"),
            subscriptions=[SubscriptionData.from_json(s) for s in d.get("subscriptionDataSet") or []],
            unit_mode=bool(d.get("unitMode", False)),
        )


@dataclass(slots=True)
class HeartbeatData:
    client_id: str
    producer_groups: list[str] = field(default_factory=list)
    consumers: list[ConsumerData] = field(default_factory=list)

    def encode(self) -> bytes:
        obj = {
            "clientID": self.client_id,
            "consumerDataSet": [c.to_json() for c in self.consumers],
            "producerDataSet": [{"groupName": g} for g in self.producer_groups],
        }
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def decode(cls, body: bytes) -> HeartbeatData:
        d = fastjson.loads(body)
        if not isinstance(d, dict):
            raise ValueError("heartbeat body is not a JSON object")
        return cls(
            client_id=str(d.get("clientID", "")),
            producer_groups=[str(p.get("groupName", "")) for p in d.get("producerDataSet") or []],
            consumers=[ConsumerData.from_json(c) for c in d.get("consumerDataSet") or []],
        )


def mq_to_json(topic: str, broker_name: str, queue_id: int) -> dict[str, Any]:
    return {"brokerName": broker_name, "queueId": queue_id, "topic": topic}


def mq_from_json(d: dict[str, Any]) -> tuple[str, str, int]:
    """``(topic, broker_name, queue_id)`` of a MessageQueue JSON object."""
    return str(d["topic"]), str(d["brokerName"]), int(d["queueId"])


@dataclass(slots=True)
class LockBatchBody:
    """LOCK_BATCH_MQ / UNLOCK_BATCH_MQ request body; ``mq_set`` holds (topic, broker, queue_id)."""

    consumer_group: str
    client_id: str
    mq_set: list[tuple[str, str, int]] = field(default_factory=list)
    only_this_broker: bool = False

    def encode(self) -> bytes:
        obj = {
            "clientId": self.client_id,
            "consumerGroup": self.consumer_group,
            "mqSet": [mq_to_json(*mq) for mq in self.mq_set],
            "onlyThisBroker": self.only_this_broker,
        }
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def decode(cls, body: bytes) -> LockBatchBody:
        d = fastjson.loads(body)
        return cls(
            consumer_group=str(d.get("consumerGroup", "")),
            client_id=str(d.get("clientId", "")),
            mq_set=[mq_from_json(m) for m in d.get("mqSet") or []],
            only_this_broker=bool(d.get("onlyThisBroker", False)),
        )


def encode_lock_response(locked: list[tuple[str, str, int]]) -> bytes:
    return json.dumps({"lockOKMQSet": [mq_to_json(*mq) for mq in locked]}, separators=(",", ":")).encode()


def decode_lock_response(body: bytes | None) -> list[tuple[str, str, int]]:
    if not body:
        return []
    return [mq_from_json(m) for m in fastjson.loads(body).get("lockOKMQSet") or []]


def encode_consumer_list(ids: list[str]) -> bytes:
    return json.dumps({"consumerIdList": ids}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_consumer_list(body: bytes | None) -> list[str]:
    if not body:
        return []
    return [str(i) for i in fastjson.loads(body).get("consumerIdList") or []]
