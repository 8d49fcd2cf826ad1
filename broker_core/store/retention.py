"""Expired-file deletion and disk protection (``CleanCommitLogService`` + ``CleanConsumeQueueService``).

Every ``cleanResourceInterval`` ms (storage spec §2.7):

1. ``timeup``: the local hour is one of ``deleteWhen``; ``spacefull``: the commit-log disk is used above
   ``diskMaxUsedSpaceRatio`` (above ``diskSpaceCleanForciblyRatio`` deletion ignores the reserved time
   when ``cleanFileForciblyEnable``; above ``diskSpaceWarningLevelRatio`` the store refuses writes with
   SERVICE_NOT_AVAILABLE until usage drops).
2. If either holds: delete commit-log segments oldest first — never the one being written — whose
   mtime is older than ``fileReservedTime`` hours (fractions allowed here, for tests), at most 10 per
   run, stopping at the first one that must stay.
3. When the commit-log min offset moved: delete consume-queue files (never the last) whose last unit
   points below it, correct each queue's min offset, then delete index files (never the last) whose
   end offset is below it. Consumers positioned before the new min get OFFSET_TOO_SMALL (the pull
   processor answers OFFSET_MOVED with the corrected offset).

The disk check is a pure function of a ``statvfs`` result so tests can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from broker_core.config.store import CQ_STORE_UNIT_SIZE, StoreConfig
from broker_core.logsetup import get_logger

if TYPE_CHECKING:
    from broker_core.store.commit_log import CommitLog
    from broker_core.store.consume_queues import ConsumeQueueStore
    from broker_core.store.index_service import IndexService

__all__ = ["CleanReport", "CleanService", "disk_usage_ratio"]

log = get_logger(__name__)
_MAX_FILES_PER_RUN = 10
_PHY = struct.Struct(">q")


def disk_usage_ratio(path: Path) -> float:
    """``ceil(used*100/(used+usable))/100`` of the file system holding ``path``; -1 if unreadable."""
    try:
        st = os.statvfs(path)
    except OSError:
        return -1.0
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    usable = st.f_bavail * st.f_frsize
    if used + usable <= 0:
        return -1.0
    return math.ceil(used * 100 / (used + usable)) / 100


@dataclass(frozen=True, slots=True)
class CleanReport:
    """What one run did."""

    commit_log_files: int = 0
    consume_queue_files: int = 0
    index_files: int = 0
    disk_ratio: float = 0.0


class CleanService:
    """Periodic retention task of one store."""

    def __init__(
        self, config: StoreConfig, commit_log: CommitLog, queues: ConsumeQueueStore, index: IndexService
    ) -> None:
        self.config = config
        self.commit_log = commit_log
        self.queues = queues
        self.index = index
        self.disk_full = False
        self._delete_hours = {int(h) for h in config.delete_when.split(";") if h.strip().isdigit()}
        self._last_min_offset = -1
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the periodic task on the running loop."""
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="store-clean")

    async def shutdown(self) -> None:
        """Stop the task."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        interval = self.config.clean_resource_interval / 1000
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except OSError:
                log.exception("file cleanup failed")

    # ---- one run ------------------------------------------------------------------------------
    def _disk_state(self) -> tuple[float, bool, bool]:
        """(ratio, spacefull, clean immediately); updates :attr:`disk_full`."""
        cfg = self.config
        ratio = disk_usage_ratio(
            cfg.commit_log_dir if cfg.commit_log_dir.exists() else cfg.store_path_root_dir
        )
        clean_now = False
        if ratio > cfg.disk_space_warning_level_ratio:
            if not self.disk_full:
                log.error("disk nearly full, refusing writes", ratio=ratio)
            self.disk_full = True
            clean_now = True
        elif ratio > cfg.disk_space_clean_forcibly_ratio:
            clean_now = True
        else:
            if self.disk_full:
                log.info("disk usage back to normal, accepting writes", ratio=ratio)
            self.disk_full = False
        spacefull = ratio > cfg.disk_max_used_space_ratio / 100 or ratio < 0
        return ratio, spacefull, clean_now

    def run_once(self, now_ms: int | None = None) -> CleanReport:
        """One cleanup round (see module docstring)."""
        now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        ratio, spacefull, clean_now = self._disk_state()
        timeup = time.localtime(now_ms / 1000).tm_hour in self._delete_hours
        cl_deleted = 0
        if timeup or spacefull:
            cl_deleted = self.delete_commit_log_files(
                now_ms, clean_at_once=self.config.clean_file_forcibly_enable and clean_now
            )
        cq_deleted, idx_deleted = self.delete_logic_files()
        if cl_deleted or cq_deleted or idx_deleted:
            log.info(
                "expired files deleted", commit_log=cl_deleted, consume_queue=cq_deleted, index=idx_deleted,
                min_offset=self.commit_log.min_offset, disk_ratio=ratio,
            )  # fmt: skip
        return CleanReport(cl_deleted, cq_deleted, idx_deleted, ratio)

    def delete_commit_log_files(self, now_ms: int, *, clean_at_once: bool) -> int:
        """Delete expired commit-log segments, oldest first, never the last one."""
        reserved_ms = self.config.file_reserved_time * 3_600_000
        files = self.commit_log.queue.files
        deleted = 0
        while len(files) > 1 and deleted < _MAX_FILES_PER_RUN:
            mf = files[0]
            try:
                mtime_ms = mf.path.stat().st_mtime_ns // 1_000_000
            except OSError:
                mtime_ms = 0
            if not clean_at_once and now_ms < mtime_ms + reserved_ms:
                break
            files.pop(0)
            mf.destroy()
            deleted += 1
        return deleted

    def delete_logic_files(self) -> tuple[int, int]:
        """After the commit-log min offset moved: drop CQ files and index files below it."""
        min_offset = self.commit_log.min_offset
        if min_offset <= self._last_min_offset or not self.commit_log.queue.files:
            return 0, 0
        self._last_min_offset = min_offset
        cq_deleted = 0
        for cq in self.queues:
            files = cq.queue.files
            while len(files) > 1:
                first = files[0]
                last_pos = first.wrote_position - CQ_STORE_UNIT_SIZE
                if last_pos < 0:
                    break
                (phy,) = _PHY.unpack_from(first.mm, last_pos)
                if phy >= min_offset:
                    break
                files.pop(0)
                first.destroy()
                cq_deleted += 1
            cq.correct_min_offset(min_offset)
        return cq_deleted, self.index.delete_expired(min_offset)
