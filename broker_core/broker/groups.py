"""Subscription group configs (``config/subscriptionGroup.json``) with auto-creation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker_core.broker.persist import ConfigFile
from broker_core.logsetup import get_logger
from broker_core.remoting.body.topic_config import DataVersion

log = get_logger(__name__)

PRECREATED_GROUPS = (
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
)


@dataclass(frozen=True, slots=True)
class SubscriptionGroupConfig:
    group_name: str
    consume_enable: bool = True
    consume_from_min_enable: bool = True
    consume_broadcast_enable: bool = True
    retry_queue_nums: int = 1
    retry_max_times: int = 16
    broker_id: int = 0
    which_broker_when_consume_slowly: int = 1
    notify_consumer_ids_changed_enable: bool = True
    #: 5.x ``consumeMessageOrderly``: POP consumers of this group get FIFO order (see pop.service)
    consume_message_orderly: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        out = {
            "brokerId": self.broker_id,
            "consumeBroadcastEnable": self.consume_broadcast_enable,
            "consumeEnable": self.consume_enable,
            "consumeFromMinEnable": self.consume_from_min_enable,
            "groupName": self.group_name,
            "notifyConsumerIdsChangedEnable": self.notify_consumer_ids_changed_enable,
            "retryMaxTimes": self.retry_max_times,
            "retryQueueNums": self.retry_queue_nums,
            "whichBrokerWhenConsumeSlowly": self.which_broker_when_consume_slowly,
        }
        if self.consume_message_orderly:  # 4.9.8 has no such key: only written when set
            out["consumeMessageOrderly"] = True
        return out

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> SubscriptionGroupConfig:
        def b(key: str, default: bool) -> bool:
            v = d.get(key, default)
            return v if isinstance(v, bool) else str(v).lower() == "true"

        return cls(
            group_name=str(d["groupName"]),
            consume_enable=b("consumeEnable", True),
            consume_from_min_enable=b("consumeFromMinEnable", True),
            consume_broadcast_enable=b("consumeBroadcastEnable", True),
            retry_queue_nums=int(d.get("retryQueueNums", 1)),
            retry_max_times=int(d.get("retryMaxTimes", 16)),
            broker_id=int(d.get("brokerId", 0)),
            which_broker_when_consume_slowly=int(d.get("whichBrokerWhenConsumeSlowly", 1)),
            notify_consumer_ids_changed_enable=b("notifyConsumerIdsChangedEnable", True),
            consume_message_orderly=b("consumeMessageOrderly", False),
        )


class SubscriptionGroupManager:
    def __init__(self, config_dir: Path, *, auto_create: bool) -> None:
        self.auto_create = auto_create
        self.table: dict[str, SubscriptionGroupConfig] = {
            g: SubscriptionGroupConfig(g) for g in PRECREATED_GROUPS
        }
        self.data_version = DataVersion.now()
        self._file = ConfigFile(config_dir / "subscriptionGroup.json")

    def find(self, group: str) -> SubscriptionGroupConfig | None:
        """The group config, auto-created when allowed (``autoCreateSubscriptionGroup``)."""
        cfg = self.table.get(group)
        if cfg is None and (self.auto_create or group.startswith("CID_RMQ_SYS_")):
            cfg = SubscriptionGroupConfig(group)
            self.table[group] = cfg
            log.info("subscription group auto-created", group=group)
            self._changed()
        return cfg

    def update(self, cfg: SubscriptionGroupConfig) -> None:
        self.table[cfg.group_name] = cfg
        self._changed()

    def delete(self, group: str) -> None:
        if self.table.pop(group, None) is not None:
            self._changed()

    def _changed(self) -> None:
        self.data_version = self.data_version.next_version()
        self.persist()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "dataVersion": self.data_version.to_json_dict(),
            "subscriptionGroupTable": {k: v.to_json_dict() for k, v in self.table.items()},
        }

    def load(self) -> None:
        def parse(obj: Any) -> tuple[dict[str, SubscriptionGroupConfig], DataVersion]:
            raw = obj.get("subscriptionGroupTable") or {}
            table = {str(k): SubscriptionGroupConfig.from_json_dict(v) for k, v in raw.items()}
            return table, DataVersion.from_json_dict(obj.get("dataVersion"))

        loaded = self._file.load(parse)
        if loaded is not None:
            self.table.update(loaded[0])
            self.data_version = loaded[1]

    def persist(self) -> None:
        self._file.save(self.to_json_dict())
