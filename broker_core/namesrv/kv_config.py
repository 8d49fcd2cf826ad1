"""The NameServer's KV config: namespace -> (key -> value), optionally persisted as JSON.

File format (Apache ``KVConfigManager``; fastjson, any key order)::

    {"configTable":{"ORDER_TOPIC_CONFIG":{"TopicA":"broker-a:4;broker-b:4"}}}

Writes follow Apache's ``MixAll.string2File``: write ``X.tmp``, copy the current ``X`` to
``X.bak``, replace ``X`` by ``X.tmp`` (an atomic rename here). Loading falls back to ``X.bak`` when
``X`` is missing, empty or unparsable. With no path the table lives in memory only.

The table is mutated on the event loop; :meth:`KVConfigManager.snapshot` takes the text to write
there and :func:`write_file` (blocking) may then run in a worker thread.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from broker_core.logsetup import get_logger
from broker_core.remoting import fastjson

__all__ = ["ORDER_TOPIC_CONFIG", "KVConfigManager", "write_file"]

log = get_logger(__name__)

#: Namespace whose entries (topic -> ``brokerName:queueNum;…``) mark ordered topics.
ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG"


def write_file(path: Path, text: str) -> None:
    """Persist ``text`` at ``path`` (tmp, bak, atomic rename; fsync before the rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    if path.exists():
        shutil.copyfile(path, path.with_name(path.name + ".bak"))
    os.replace(tmp, path)


def _parse(path: Path) -> dict[str, dict[str, str]] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    if not text.strip():
        return None
    try:
        obj = fastjson.loads(text)
        table = obj.get("configTable") or {}
        return {str(ns): {str(k): str(v) for k, v in kv.items()} for ns, kv in table.items()}
    except (ValueError, AttributeError, TypeError):
        log.warning("kv config file unreadable", path=str(path))
        return None


class KVConfigManager:
    """Two-level string map with Apache's persistence format."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._table: dict[str, dict[str, str]] = {}

    def load(self) -> None:
        """Read the file (or its ``.bak``); a missing file is an empty table."""
        if self.path is None:
            return
        table = _parse(self.path)
        if table is None:
            table = _parse(self.path.with_name(self.path.name + ".bak"))
        self._table = table or {}
        log.info("kv config loaded", path=str(self.path), namespaces=len(self._table))

    def put(self, namespace: str, key: str, value: str) -> None:
        self._table.setdefault(namespace, {})[key] = value

    def delete(self, namespace: str, key: str) -> bool:
        """Remove a key; returns whether it existed (a missing key is not an error)."""
        kv = self._table.get(namespace)
        if kv is None or key not in kv:
            return False
        del kv[key]
        if not kv:
            del self._table[namespace]
        return True

    def get(self, namespace: str, key: str) -> str | None:
        return self._table.get(namespace, {}).get(key)

    def namespace(self, namespace: str) -> dict[str, str] | None:
        """A copy of one namespace, or ``None`` when it has no entries."""
        kv = self._table.get(namespace)
        return dict(kv) if kv else None

    def snapshot(self) -> str:
        """The file text for the current table."""
        return fastjson.dumps({"configTable": self._table}, pretty=True)

    def save(self) -> None:
        """Blocking write of the current table (no-op without a path)."""
        if self.path is not None:
            write_file(self.path, self.snapshot())
