"""Bodies a consumer client answers broker-forwarded admin requests with (remoting spec 4.11).

``ConsumerRunningInfo`` (GET_CONSUMER_RUNNING_INFO, 307)::

    {"jstack": "", "mqTable": {MessageQueue: ProcessQueueInfo}, "properties": {str: str},
     "statusTable": {}, "subscriptionSet": [SubscriptionData]}

``mqTable`` has MessageQueue objects as (unquoted) keys, as fastjson writes them.
``ConsumeMessageDirectlyResult`` (CONSUME_MESSAGE_DIRECTLY, 309)::

    {"autoCommit": true, "consumeResult": "CR_SUCCESS", "order": false, "remark": "", "spentTimeMills": 3}

``GetConsumerStatusBody`` (GET_CONSUMER_STATUS_FROM_CLIENT, 221)::

    {"consumerTable": {}, "messageQueueTable": {MessageQueue: offset}}
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from broker_core.remoting import fastjson
from broker_core.remoting.body.consumer_admin import MQ, mq_from_key, mq_key

__all__ = [
    "CMResult",
    "ConsumeMessageDirectlyResult",
    "ConsumerRunningInfo",
    "ProcessQueueInfo",
    "decode_consumer_status",
    "encode_consumer_status",
]


class CMResult(enum.Enum):
    """Outcome of a directly consumed message (Java ``CMResult``)."""

    CR_SUCCESS = "CR_SUCCESS"
    CR_LATER = "CR_LATER"
    CR_ROLLBACK = "CR_ROLLBACK"
    CR_COMMIT = "CR_COMMIT"
    CR_THROW_EXCEPTION = "CR_THROW_EXCEPTION"
    CR_RETURN_NULL = "CR_RETURN_NULL"


@dataclass(frozen=True, slots=True)
class ProcessQueueInfo:
    """Java ``ProcessQueueInfo`` (field names as on the wire, including the historic ``droped``)."""

    commit_offset: int
    cached_msg_min_offset: int
    cached_msg_max_offset: int
    cached_msg_count: int
    cached_msg_size_in_mib: int
    locked: bool
    last_lock_timestamp: int
    droped: bool
    last_pull_timestamp: int
    last_consume_timestamp: int

    def to_json(self) -> dict[str, Any]:
        return {
            "cachedMsgCount": self.cached_msg_count,
            "cachedMsgMaxOffset": self.cached_msg_max_offset,
            "cachedMsgMinOffset": self.cached_msg_min_offset,
            "cachedMsgSizeInMiB": self.cached_msg_size_in_mib,
            "commitOffset": self.commit_offset,
            "droped": self.droped,
            "lastConsumeTimestamp": self.last_consume_timestamp,
            "lastLockTimestamp": self.last_lock_timestamp,
            "lastPullTimestamp": self.last_pull_timestamp,
            "locked": self.locked,
            "transactionMsgCount": 0,
            "transactionMsgMaxOffset": 0,
            "transactionMsgMinOffset": 0,
            "tryUnlockTimes": 0,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProcessQueueInfo:
        return cls(
            int(d.get("commitOffset", 0)), int(d.get("cachedMsgMinOffset", 0)), int(d.get("cachedMsgMaxOffset", 0)),
            int(d.get("cachedMsgCount", 0)), int(d.get("cachedMsgSizeInMiB", 0)), bool(d.get("locked", False)),
            int(d.get("lastLockTimestamp", 0)), bool(d.get("droped", False)), int(d.get("lastPullTimestamp", 0)),
            int(d.get("lastConsumeTimestamp", 0)),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ConsumerRunningInfo:
    properties: dict[str, str] = field(default_factory=dict)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    mq_table: dict[MQ, ProcessQueueInfo] = field(default_factory=dict)

    def encode(self) -> bytes:
        obj = {
            "jstack": "",
            "mqTable": {mq_key(mq): info.to_json() for mq, info in sorted(self.mq_table.items())},
            "properties": dict(sorted(self.properties.items())),
            "statusTable": {},
            "subscriptionSet": self.subscriptions,
        }
        return fastjson.dumps_object_keys(obj).encode("utf-8")

    @classmethod
    def decode(cls, body: bytes) -> ConsumerRunningInfo:
        obj = fastjson.loads_object_keys(body)
        table = {mq_from_key(k): ProcessQueueInfo.from_json(v) for k, v in (obj.get("mqTable") or {}).items()}
        props = {str(k): str(v) for k, v in (obj.get("properties") or {}).items()}
        return cls(props, list(obj.get("subscriptionSet") or []), table)


@dataclass(frozen=True, slots=True)
class ConsumeMessageDirectlyResult:
    consume_result: CMResult
    order: bool = False
    auto_commit: bool = True
    remark: str = ""
    spent_time_mills: int = 0

    def encode(self) -> bytes:
        obj = {
            "autoCommit": self.auto_commit,
            "consumeResult": self.consume_result.value,
            "order": self.order,
            "remark": self.remark,
            "spentTimeMills": self.spent_time_mills,
        }
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def decode(cls, body: bytes) -> ConsumeMessageDirectlyResult:
        d = fastjson.loads(body)
        return cls(
            CMResult(str(d.get("consumeResult", "CR_RETURN_NULL"))), bool(d.get("order", False)),
            bool(d.get("autoCommit", True)), str(d.get("remark") or ""), int(d.get("spentTimeMills", 0)),
        )  # fmt: skip


def encode_consumer_status(offsets: dict[MQ, int]) -> bytes:
    table = {mq_key(mq): o for mq, o in sorted(offsets.items())}
    return fastjson.dumps_object_keys({"consumerTable": {}, "messageQueueTable": table}).encode("utf-8")


def decode_consumer_status(body: bytes) -> dict[MQ, int]:
    obj = fastjson.loads_object_keys(body)
    return {mq_from_key(k): int(v) for k, v in (obj.get("messageQueueTable") or {}).items()}
