"""Committed consumer offsets (``config/consumerOffset.json``).

Key ``topic@group`` -> {queueId: next offset to consume}, written with unquoted integer keys like
fastjson. Updates are in memory; the broker persists every ``flushConsumerOffsetInterval`` and at
shutdown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from broker_core.broker.persist import ConfigFile, SnapshotFile

TOPIC_GROUP_SEPARATOR = "@"


class ConsumerOffsetManager(SnapshotFile):
    def __init__(self, config_dir: Path) -> None:
        self.table: dict[str, dict[int, int]] = {}
        self._file = ConfigFile(config_dir / "consumerOffset.json")
        self._dirty = False

    @staticmethod
    def key(topic: str, group: str) -> str:
        return f"{topic}{TOPIC_GROUP_SEPARATOR}{group}"

    def commit(self, group: str, topic: str, queue_id: int, offset: int) -> None:
        self.table.setdefault(self.key(topic, group), {})[queue_id] = offset
        self._dirty = True

    def query(self, group: str, topic: str, queue_id: int) -> int:
        """The committed offset, or -1 when none is stored."""
        return self.table.get(self.key(topic, group), {}).get(queue_id, -1)

    def offsets_of(self, group: str, topic: str) -> dict[int, int]:
        return dict(self.table.get(self.key(topic, group), {}))

    def groups_of_topic(self, topic: str) -> set[str]:
        prefix = topic + TOPIC_GROUP_SEPARATOR
        return {k[len(prefix) :] for k in self.table if k.startswith(prefix)}

    def remove_group(self, group: str) -> None:
        for key in [k for k in self.table if k.endswith(TOPIC_GROUP_SEPARATOR + group)]:
            del self.table[key]
        self._dirty = True

    def remove_topic(self, topic: str) -> None:
        """Drop every group's offsets of ``topic`` (deleted: a topic created again under its name
        starts at offset 0, and an old offset beyond its end would skip its first messages)."""
        prefix = topic + TOPIC_GROUP_SEPARATOR
        for key in [k for k in self.table if k.startswith(prefix)]:
            del self.table[key]
        self._dirty = True

    def to_json_dict(self) -> dict[str, Any]:
        return {"offsetTable": {k: dict(v) for k, v in self.table.items()}}

    def load(self) -> None:
        def parse(obj: Any) -> dict[str, dict[int, int]]:
            raw = obj.get("offsetTable") or {}
            return {str(k): {int(q): int(o) for q, o in v.items()} for k, v in raw.items()}

        table = self._file.load(parse)
        if table is not None:
            self.table = table

    def persist(self, force: bool = False) -> None:
        if self._dirty or force:
            self._dirty = False
            self._file.save(self.to_json_dict())
