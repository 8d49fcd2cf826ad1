"""``IndexService``: the list of index files, the key-index dispatcher, and key queries (spec §1.5).

Files are named by local creation time ``yyyyMMddHHmmssSSS`` and written in order; the last one takes
new keys until it is full, then a new file starts pre-set from its end offset/time. A full file is
synced in a worker thread, after which ``checkpoint.index_msg_timestamp`` is advanced.

Recovery differs from Apache on purpose: Apache throws away, after a crash, every index file newer than
the checkpoint's index time, so keys of older commit-log segments that are not re-dispatched are lost
from the index. Here a file is kept unless it indexes records past the recovered end of the commit log
(possible only after truncation); dropped files are rebuilt by re-dispatching from their begin offset
(:meth:`IndexService.load` returns it). A process kill loses no index bytes (shared mapping), so the
kept files are complete.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from broker_core.config.store import StoreConfig
from broker_core.logsetup import get_logger
from broker_core.store.dispatch import DispatchRequest
from broker_core.store.index_file import IndexFile

if TYPE_CHECKING:
    from broker_core.store.checkpoint import StoreCheckpoint

__all__ = ["IndexService"]

log = get_logger(__name__)
_ROLLBACK = 0xC  # TRANSACTION_ROLLBACK_TYPE bits (sysFlag & 0xC == 0xC)


def _file_name(now_ms: int) -> str:
    t = time.localtime(now_ms / 1000)
    return time.strftime("%Y%m%d%H%M%S", t) + f"{now_ms % 1000:03d}"


class IndexService:
    """Index files + dispatcher (``dispatch``) + ``query_offsets``."""

    def __init__(self, config: StoreConfig, checkpoint: StoreCheckpoint) -> None:
        self.config = config
        self.checkpoint = checkpoint
        self.directory = config.index_dir
        self.files: list[IndexFile] = []
        self._slots = config.max_hash_slot_num
        self._max_index = config.max_index_num
        self._pending_sync: set[asyncio.Task[None]] = set()

    # ---- lifecycle ----------------------------------------------------------------------------
    def load(self, commit_log_end: int) -> int | None:
        """Open the index files; drop those indexing records at/after ``commit_log_end``.

        Returns:
            The smallest begin offset of a dropped file (dispatch must restart there), or None.
        """
        if not self.directory.is_dir():
            return None
        rebuild_from: int | None = None
        for path in sorted(p for p in self.directory.iterdir() if p.is_file() and p.name.isdigit()):
            try:
                f = IndexFile(path, self._slots, self._max_index)
            except Exception:  # wrong size (config changed) or unreadable: rebuild from scratch
                log.warning("unusable index file, deleting", path=str(path))
                path.unlink(missing_ok=True)
                rebuild_from = 0
                continue
            if f.entry_count and f.end_phy_offset >= commit_log_end:
                log.warning("index file points past the commit log end, rebuilding", path=path.name)
                begin = f.begin_phy_offset
                rebuild_from = begin if rebuild_from is None else min(rebuild_from, begin)
                f.destroy()
                continue
            self.files.append(f)
        if rebuild_from is not None:  # later files depend on the dropped one's offsets
            keep = [f for f in self.files if f.end_phy_offset < rebuild_from]
            for f in self.files:
                if f not in keep:
                    f.destroy()
            self.files = keep
        return rebuild_from

    def close(self) -> None:
        """Sync and unmap every file (shutdown)."""
        for f in self.files:
            try:
                f.sync()
            except (OSError, ValueError):
                log.exception("index sync failed", path=f.path.name)
            f.close()

    async def wait_syncs(self) -> None:
        """Await background syncs of full files."""
        if self._pending_sync:
            await asyncio.gather(*self._pending_sync, return_exceptions=True)

    # ---- write --------------------------------------------------------------------------------
    def _last_file(self) -> IndexFile:
        last = self.files[-1] if self.files else None
        if last is not None and not last.is_full:
            return last
        self.directory.mkdir(parents=True, exist_ok=True)
        now = time.time_ns() // 1_000_000
        path = self.directory / _file_name(now)
        while path.exists() or (self.files and path.name <= self.files[-1].path.name):
            now += 1
            path = self.directory / _file_name(now)
        new = IndexFile(
            path, self._slots, self._max_index, create=True,
            end_phy_offset=last.end_phy_offset if last else 0,
            end_timestamp=last.end_timestamp if last else 0,
        )  # fmt: skip
        self.files.append(new)
        if last is not None:
            self._sync_full(last)
        return new

    def _sync_full(self, full: IndexFile) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            full.sync()
            self.checkpoint.index_msg_timestamp = full.end_timestamp
            return

        async def run() -> None:
            await asyncio.to_thread(full.sync)
            self.checkpoint.index_msg_timestamp = full.end_timestamp
            await self.checkpoint.save()

        task = loop.create_task(run(), name="store-index-sync")
        self._pending_sync.add(task)
        task.add_done_callback(self._pending_sync.discard)

    def dispatch(self, request: DispatchRequest) -> None:
        """Index UNIQ_KEY and each of KEYS as ``topic#key`` (skips ROLLBACK and already-indexed records).

        Per record, most records: one unique key, no KEYS (the loop and list are only built for KEYS).
        """
        if request.sys_flag & _ROLLBACK == _ROLLBACK:
            return
        uniq_key = request.uniq_key
        keys = request.keys
        if not uniq_key and not keys:
            return
        f = self.files[-1] if self.files else None
        if f is None or f.index_count >= f.max_index:
            f = self._last_file()
        phy = request.commit_log_offset
        if phy < f.end_phy_offset or (phy == f.end_phy_offset and f.index_count > 1):
            return
        ts = request.store_timestamp
        prefix = request.topic + "#"
        if uniq_key:
            while not f.put_key(prefix + uniq_key, phy, ts):
                f = self._last_file()
        if keys:
            for key in keys.split(" "):
                if key:
                    while not f.put_key(prefix + key, phy, ts):
                        f = self._last_file()

    # ---- read ---------------------------------------------------------------------------------
    def query_offsets(self, topic: str, key: str, max_num: int, begin: int, end: int) -> list[int]:
        """Commit-log offsets (newest files first, deduplicated) whose key hash matches ``topic#key``."""
        max_num = min(max_num, self.config.max_msgs_num_batch)
        full_key = f"{topic}#{key}"
        out: list[int] = []
        seen: set[int] = set()
        for f in reversed(self.files):
            if f.overlaps(begin, end) and f.entry_count:
                for phy in f.select_phy_offsets(full_key, max_num - len(out), begin, end):
                    if phy not in seen:
                        seen.add(phy)
                        out.append(phy)
            if len(out) >= max_num or f.begin_timestamp < begin:
                break
        return out

    @property
    def last_update(self) -> tuple[int, int]:
        """(endTimestamp, endPhyOffset) of the newest file (QUERY_MESSAGE response header)."""
        if not self.files:
            return 0, 0
        return self.files[-1].end_timestamp, self.files[-1].end_phy_offset

    # ---- retention ----------------------------------------------------------------------------
    def delete_expired(self, commit_log_min_offset: int) -> int:
        """Delete files (never the last) whose every entry points below ``commit_log_min_offset``."""
        deleted = 0
        while len(self.files) > 1 and self.files[0].end_phy_offset < commit_log_min_offset:
            self.files.pop(0).destroy()
            deleted += 1
        return deleted

    @staticmethod
    def file_names(directory: Path) -> list[Path]:
        """Index files of a store directory, oldest first (dump tool)."""
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.iterdir() if p.is_file() and p.name.isdigit())
