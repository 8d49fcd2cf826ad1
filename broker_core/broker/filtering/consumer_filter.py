"""ConsumerFilterManager: SQL92 subscriptions learnt from heartbeats (storage spec 5.2, 1.9).

Pulls that carry no subscription of their own (the normal push-consumer case) are filtered with
the expression the group registered in its last heartbeat, compiled once here. The table is kept
as ``topic -> group -> ConsumerFilterData`` and persisted to ``config/consumerFilter.json`` in
Apache's layout so a Java broker can read it. The optional bloom-filter data (5.4) is not built.

Versioning (``clientVersion`` = the subscription's ``subVersion``): an older or equal heartbeat
never replaces a newer entry; a newer one rebuilds the entry when the expression or its type
changed. Topics a group stops subscribing to, and groups that unregister, are marked dead
(``deadTime >= bornTime``); dead entries are dropped from the file after ``filterDataCleanTimeSpan``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker_core.broker.filtering.sql92 import CompiledSelector, FilterSyntaxError, compile_selector
from broker_core.broker.persist import ConfigFile, SnapshotFile
from broker_core.logsetup import get_logger
from broker_core.remoting.body.heartbeat import SubscriptionData

__all__ = ["ConsumerFilterData", "ConsumerFilterManager"]

log = get_logger(__name__)

FILTER_DATA_CLEAN_TIME_SPAN_MS = 24 * 3600 * 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class ConsumerFilterData:
    """One group's compiled expression for one topic."""

    consumer_group: str
    topic: str
    expression: str
    expression_type: str
    born_time: int
    dead_time: int = 0
    client_version: int = 0
    compiled: CompiledSelector | None = field(default=None, repr=False)

    @property
    def dead(self) -> bool:
        return self.dead_time >= self.born_time

    def to_json(self) -> dict[str, Any]:
        return {
            "consumerGroup": self.consumer_group,
            "topic": self.topic,
            "expression": self.expression,
            "expressionType": self.expression_type,
            "bornTime": self.born_time,
            "deadTime": self.dead_time,
            "clientVersion": self.client_version,
        }


def _compile(expression: str, expression_type: str) -> CompiledSelector | None:
    if expression_type != "SQL92":
        return None
    try:
        return compile_selector(expression)
    except FilterSyntaxError as exc:
        log.warning("consumer filter does not compile", expression=expression, error=str(exc))
        return None


class ConsumerFilterManager(SnapshotFile):
    def __init__(self, config_dir: Path) -> None:
        #: topic -> consumer group -> filter data
        self.table: dict[str, dict[str, ConsumerFilterData]] = {}
        self._file = ConfigFile(config_dir / "consumerFilter.json")
        self._dirty = False

    def get(self, topic: str, group: str) -> ConsumerFilterData | None:
        """Live filter data of ``group`` on ``topic`` (``None`` when absent or uncompilable)."""
        data = self.table.get(topic, {}).get(group)
        return data if data is not None and data.compiled is not None else None

    def register(self, group: str, subscriptions: Iterable[SubscriptionData]) -> None:
        """Apply one heartbeat's subscriptions of ``group`` (REGISTER event)."""
        seen: set[str] = set()
        for sub in subscriptions:
            if sub.expression_type == "TAG" or not sub.sub_string.strip():
                continue
            seen.add(sub.topic)
            self._register_one(group, sub)
        for topic, groups in self.table.items():
            data = groups.get(group)
            if topic not in seen and data is not None and not data.dead:
                data.dead_time = _now_ms()
                self._dirty = True

    def _register_one(self, group: str, sub: SubscriptionData) -> None:
        groups = self.table.setdefault(sub.topic, {})
        old = groups.get(group)
        now = _now_ms()
        if old is not None and sub.sub_version <= old.client_version:
            if old.dead and sub.sub_version == old.client_version:
                old.dead_time, old.born_time = 0, now
                self._dirty = True
            return
        if (
            old is not None
            and old.expression == sub.sub_string
            and old.expression_type == sub.expression_type
        ):
            old.client_version = sub.sub_version
            if old.dead:
                old.dead_time, old.born_time = 0, now
            self._dirty = True
            return
        compiled = _compile(sub.sub_string, sub.expression_type)
        if compiled is None:
            groups.pop(group, None)
            return
        groups[group] = ConsumerFilterData(
            group, sub.topic, sub.sub_string, sub.expression_type, now, 0, sub.sub_version, compiled
        )
        self._dirty = True
        log.info("consumer filter registered", group=group, topic=sub.topic, expression=sub.sub_string)

    def unregister(self, group: str) -> None:
        """The group is gone from this broker: mark all its entries dead."""
        now = _now_ms()
        for groups in self.table.values():
            data = groups.get(group)
            if data is not None and not data.dead:
                data.dead_time = now
                self._dirty = True

    # ------------------------------------------------------------------ persistence

    def to_json_dict(self) -> dict[str, Any]:
        now = _now_ms()
        out: dict[str, Any] = {}
        for topic, groups in self.table.items():
            kept = {
                g: d.to_json()
                for g, d in groups.items()
                if not (d.dead and now - d.dead_time > FILTER_DATA_CLEAN_TIME_SPAN_MS)
            }
            if kept:
                out[topic] = {"topic": topic, "groupFilterData": kept}
        return {"filterDataByTopic": out}

    def load(self) -> None:
        table = self._file.load(self._parse)
        if table is not None:
            self.table = table

    @staticmethod
    def _parse(obj: Any) -> dict[str, dict[str, ConsumerFilterData]]:
        now = _now_ms()
        table: dict[str, dict[str, ConsumerFilterData]] = {}
        for topic, entry in (obj.get("filterDataByTopic") or {}).items():
            for group, d in (entry.get("groupFilterData") or {}).items():
                data = ConsumerFilterData(
                    consumer_group=str(d.get("consumerGroup") or group),
                    topic=str(d.get("topic") or topic),
                    expression=str(d.get("expression") or ""),
                    expression_type=str(d.get("expressionType") or "SQL92"),
                    born_time=int(d.get("bornTime") or 0),
                    dead_time=int(d.get("deadTime") or 0),
                    client_version=int(d.get("clientVersion") or 0),
                )
                if data.dead_time == 0:  # alive at the last save: dead until a heartbeat revives it
                    data.dead_time = max(now - 30_000, data.born_time)
                data.compiled = _compile(data.expression, data.expression_type)
                table.setdefault(str(topic), {})[str(group)] = data
        return table

    def persist(self, force: bool = False) -> None:
        if not (self._dirty or force):
            return
        self._dirty = False
        self._file.save(self.to_json_dict())
