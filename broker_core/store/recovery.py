"""Start-up recovery: find the end of valid data, truncate the torn tail, decide where dispatch resumes.

* Normal (clean shutdown, no ``abort`` file): scan from the third-to-last commit-log segment.
* Abnormal (``abort`` present): scan from the newest segment whose first record was stored before the
  checkpoint's ``min_timestamp`` (everything older is known to be flushed and dispatched); if none,
  from the first segment. Dispatch then resumes from that segment, so consume queues (and, later, the
  index) are rebuilt; dispatchers skip what they already hold.

Both scans validate framing and (``checkCRCOnRecover``) body CRCs and stop at the first bad record;
BLANK markers jump to the next segment. Everything from the stop point on is truncated, and consume
queue units pointing at truncated records are dropped (storage spec §2.6).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from broker_core.logsetup import get_logger
from broker_core.message.codec import MESSAGE_MAGIC_CODE
from broker_core.store.checkpoint import StoreCheckpoint
from broker_core.store.commit_log import CommitLog
from broker_core.store.consume_queues import ConsumeQueueStore
from broker_core.store.dispatch import DispatchRequest, parse_record
from broker_core.store.mapped_file import MappedFile

__all__ = ["RecoveryResult", "recover"]

log = get_logger(__name__)
_MAGIC = struct.Struct(">ii")


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    """What recovery decided.

    Attributes:
        abnormal: the last exit was not clean.
        process_offset: end of valid commit-log data (the new write position).
        reput_from_offset: where dispatch resumes.
        scan_from_offset: start of the segment the scan began with.
    """

    abnormal: bool
    process_offset: int
    reput_from_offset: int
    scan_from_offset: int


def _first_record_time(mf: MappedFile) -> int:
    """Store time of a segment's first record, 0 if it does not start with a message."""
    _total, magic = _MAGIC.unpack_from(mf.mm, 0)
    if magic != MESSAGE_MAGIC_CODE:
        return 0
    (sys_flag,) = struct.unpack_from(">i", mf.mm, 36)
    (ts,) = struct.unpack_from(">q", mf.mm, 48 + (20 if sys_flag & 0x10 else 8))
    return int(ts)


def _abnormal_start(files: list[MappedFile], min_timestamp: int) -> int:
    for index in range(len(files) - 1, -1, -1):
        ts = _first_record_time(files[index])
        if ts != 0 and ts <= min_timestamp:
            return index
    return 0


def _scan(commit_log: CommitLog, index: int, check_crc: bool) -> int:
    files = commit_log.queue.files
    mf = files[index]
    pos = 0
    while True:
        req = parse_record(
            mf.mm, pos, mf.file_size, mf.file_from_offset, check_crc=check_crc, with_properties=False
        )
        if isinstance(req, DispatchRequest):
            pos += req.msg_size
            commit_log.last_store_timestamp = max(commit_log.last_store_timestamp, req.store_timestamp)
        elif req == 0:
            if index + 1 >= len(files):
                break
            index += 1
            mf = files[index]
            pos = 0
        else:
            break
    return mf.file_from_offset + pos


def recover(
    commit_log: CommitLog,
    queues: ConsumeQueueStore,
    checkpoint: StoreCheckpoint,
    *,
    abnormal: bool,
    check_crc: bool = True,
    index_safe: bool = False,
) -> RecoveryResult:
    """Recover consume queues then the commit log (see module docstring)."""
    max_cq_phy = queues.recover()
    files = commit_log.queue.files
    if not files:
        if max_cq_phy >= 0:
            log.warning("commit log is empty, destroying consume queues")
        queues.destroy_all()
        commit_log.queue.set_flushed_where(0)
        return RecoveryResult(abnormal, 0, 0, 0)
    if abnormal:
        min_ts = checkpoint.min_timestamp_index if index_safe else checkpoint.min_timestamp
        index = _abnormal_start(files, min_ts)
    else:
        index = max(0, len(files) - 3)
    scan_from = files[index].file_from_offset
    process_offset = _scan(commit_log, index, check_crc)
    old_max = commit_log.queue.max_offset
    commit_log.queue.set_flushed_where(process_offset)
    commit_log.queue.truncate_dirty_files(process_offset)
    if max_cq_phy >= process_offset:
        queues.truncate_dirty(process_offset)
    reput_from = max(queues.max_physic_offset, commit_log.min_offset, 0)
    if abnormal:
        reput_from = min(reput_from, scan_from)
    log.info(
        "store recovered", abnormal=abnormal, process_offset=process_offset, scan_from=scan_from,
        reput_from=reput_from, old_max_offset=old_max,
    )  # fmt: skip
    return RecoveryResult(abnormal, process_offset, reput_from, scan_from)
