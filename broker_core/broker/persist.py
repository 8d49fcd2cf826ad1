"""Metadata file persistence with Apache's tmp/bak/rename protocol.

To write ``X``: write ``X.tmp``, copy the current ``X`` to ``X.bak``, replace ``X`` with
``X.tmp``. To read: ``X``, or ``X.bak`` when ``X`` is missing, empty or unparsable. The text is
fastjson-style (tab-indented, unquoted integer map keys), so Apache tools can read our files.

Files written periodically while the broker serves (consumer offsets, delay offsets, consumer
filters) are written as a :class:`Snapshot`: the object is built on the event loop (consistent; no
table mutated under a worker thread's iteration) and written, with its fsync, by a worker thread
(milliseconds on a busy disk that must not stall the loop).
"""

from __future__ import annotations

import abc
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from broker_core.logsetup import get_logger
from broker_core.remoting import fastjson

log = get_logger(__name__)
T = TypeVar("T")


class ConfigFile:
    """One JSON metadata file under ``<store>/config/``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, obj: Any) -> None:
        text = fastjson.dumps_pretty(obj)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if self.path.exists():
            shutil.copyfile(self.path, self.path.with_name(self.path.name + ".bak"))
        os.replace(tmp, self.path)

    def load(self, parse: Callable[[Any], T]) -> T | None:
        """Parse ``X`` (or ``X.bak``) with ``parse(obj)``; ``None`` when neither exists."""
        for candidate in (self.path, self.path.with_name(self.path.name + ".bak")):
            try:
                text = candidate.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            if not text.strip():
                continue
            try:
                return parse(fastjson.loads(text))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                log.warning("config file unreadable, trying backup", path=str(candidate), error=str(exc))
        return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A file's content taken on the loop, to be written anywhere (a worker thread)."""

    file: ConfigFile
    obj: Any

    def write(self) -> None:
        self.file.save(self.obj)


class SnapshotFile(abc.ABC):
    """Base of a table persisted to ``self._file`` and marked ``self._dirty`` when it changes."""

    _file: ConfigFile
    _dirty: bool

    @abc.abstractmethod
    def to_json_dict(self) -> dict[str, Any]:
        """The file's content (fastjson-shaped), built from the table as it is now."""

    def snapshot(self) -> Snapshot | None:
        """The content to write when it changed since the last snapshot, else None."""
        if not self._dirty:
            return None
        self._dirty = False
        return Snapshot(self._file, self.to_json_dict())

    def mark_dirty(self) -> None:
        """Writing the last snapshot failed: write it again next time."""
        self._dirty = True
