"""The commit log: every message of every topic appended to one segmented log.

Single writer: ``put``/``put_batch`` run on the event-loop thread and are synchronous, so the write
path needs no lock (Apache's put lock serialises threads; here the loop already does). One put is:
encode the variable parts once (:func:`prepare_record`), check limits, take the queue offset from the
queue-offset table, write a BLANK end-of-file marker and roll if the record (+8 spare bytes) does not
fit, then pack the record straight into the mapping. No system call happens per message.

Dispatch hand-off: for every record it appends, the writer also leaves a :class:`DispatchRequest` in
``handoff`` (topic, queue, offsets, tags code, keys, unique key: facts it holds anyway), so dispatch
need not scan the record back out of the mapping and re-split its properties. The queue is bounded
(the oldest entries fall out when dispatch lags far behind; those records are then scanned, as after
a restart) and holds only records in strictly increasing offset order: any write at or below the
last queued offset (a put after a truncation, replicated bytes) drops what is queued first, so an
entry can never describe bytes that were replaced. SCHEDULE_TOPIC_XXXX records are not handed off
(their tags code is a delivery time dispatch computes from the delay levels).

The queue-offset table maps ``(topic, queue_id)`` -> next queue offset. It is rebuilt from the consume
queues at start-up. Prepared and rollback transactional records get queue offset 0 and do not
advance it (storage spec §2.2.1).
"""

from __future__ import annotations

import struct
import time
from collections import deque

from broker_core.config.store import StoreConfig
from broker_core.errors import StoreError
from broker_core.message.codec import (
    END_FILE_MIN_BLANK_LENGTH,
    MAX_PROPERTIES_LENGTH,
    MAX_TOPIC_LENGTH,
    PreparedRecord,
    encode_blank_into,
    prepare_record,
    write_record,
)
from broker_core.message.model import BrokerMessage
from broker_core.message.msg_id import offset_msg_id_prefix
from broker_core.message.properties import MessageConst, property_value, tags_hash_code
from broker_core.store.dispatch import DispatchRequest
from broker_core.store.mapped_file import MappedFile
from broker_core.store.results import AppendResult, PutResult, PutStatus
from broker_core.store.segments import MappedFileQueue

__all__ = ["CommitLog"]

_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_ILLEGAL = PutResult(PutStatus.MESSAGE_ILLEGAL)
_PROPS_EXCEEDED = PutResult(PutStatus.PROPERTIES_SIZE_EXCEEDED)
_CREATE_FAILED = PutResult(PutStatus.CREATE_MAPEDFILE_FAILED)
#: records whose dispatch requests wait in ``CommitLog.handoff`` at most (~200 B each)
HANDOFF_LIMIT = 16384
_SCHEDULE_TOPIC = MessageConst.SCHEDULE_TOPIC
_KEYS = MessageConst.KEYS
_UNIQ_KEY = MessageConst.UNIQ_KEY
_TAGS = MessageConst.TAGS


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class CommitLog:
    """Segmented commit log with a single-writer append path."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.queue = MappedFileQueue(config.commit_log_dir, config.mapped_file_size_commit_log)
        self.queue_offsets: dict[tuple[str, int], int] = {}
        self.last_store_timestamp = 0
        self._id_prefixes: dict[tuple[str, int], str] = {}
        self._file_size = config.mapped_file_size_commit_log
        self._max_body = config.max_message_size
        #: dispatch requests of appended records, oldest first (see module docstring)
        self.handoff: deque[DispatchRequest] = deque(maxlen=HANDOFF_LIMIT)

    # ---- offsets ------------------------------------------------------------------------------
    @property
    def max_offset(self) -> int:
        """End of written data (the next record's offset, modulo a roll)."""
        return self.queue.max_offset

    @property
    def min_offset(self) -> int:
        """Start of the oldest segment."""
        return self.queue.min_offset

    def _msg_id(self, store_host: tuple[str, int], offset: int) -> str:
        prefix = self._id_prefixes.get(store_host)
        if prefix is None:
            prefix = self._id_prefixes[store_host] = offset_msg_id_prefix(store_host)
        return f"{prefix}{offset:016X}"

    # ---- write path ---------------------------------------------------------------------------
    def _check(self, msg: BrokerMessage, prep: PreparedRecord) -> PutResult | None:
        if len(prep.topic) > MAX_TOPIC_LENGTH:
            return _ILLEGAL
        if len(prep.properties) > MAX_PROPERTIES_LENGTH:
            return _PROPS_EXCEEDED
        if len(msg.body) > self._max_body or prep.size + END_FILE_MIN_BLANK_LENGTH > self._file_size:
            return _ILLEGAL
        return None

    def _writable_file(self, need: int) -> MappedFile:
        """The segment that can take ``need`` bytes (+8 spare), writing a BLANK marker and rolling if not."""
        mf = self.queue.get_last_mapped_file(0)
        assert mf is not None
        remaining = mf.file_size - mf.wrote_position
        if need + END_FILE_MIN_BLANK_LENGTH > remaining:
            encode_blank_into(mf.mm, mf.wrote_position, remaining)
            mf.wrote_position = mf.file_size
            mf = self.queue.get_last_mapped_file(0)
            assert mf is not None
        return mf

    def _store_timestamp(self) -> int:
        # Store timestamps never go backwards in file order, even if the wall clock does.
        now = _now_ms()
        if now < self.last_store_timestamp:
            now = self.last_store_timestamp
        self.last_store_timestamp = now
        return now

    def _hand_off(
        self, msg: BrokerMessage, phy: int, size: int, sys_flag: int, queue_offset: int, store_ts: int
    ) -> None:
        """Queue the dispatch request of the record just written at ``phy`` (module docstring)."""
        topic = msg.topic
        if topic == _SCHEDULE_TOPIC:
            return
        handoff = self.handoff
        if handoff and handoff[-1].commit_log_offset >= phy:
            handoff.clear()
        props = msg.properties_str
        tags_code = 0
        keys = uniq_key = ""
        if props:  # the ``in`` guards skip the scans for names the record does not carry
            if "TAGS\x01" in props:
                tags = property_value(props, _TAGS)
                if tags:
                    tags_code = tags_hash_code(tags)
            if "KEYS\x01" in props:
                keys = property_value(props, _KEYS) or ""
            if "UNIQ_KEY\x01" in props:
                uniq_key = property_value(props, _UNIQ_KEY) or ""
        handoff.append(
            DispatchRequest(
                topic, msg.queue_id, phy, size, tags_code, store_ts, queue_offset, sys_flag,
                msg.prepared_transaction_offset, keys, uniq_key, props,
            )
        )  # fmt: skip

    def _forget_handoff_from(self, offset: int) -> None:
        """Drop the queued requests if any describes bytes at or after ``offset`` (about to be rewritten)."""
        if self.handoff and self.handoff[-1].commit_log_offset >= offset:
            self.handoff.clear()

    def put(self, msg: BrokerMessage) -> PutResult:
        """Append one message; the status is PUT_OK, MESSAGE_ILLEGAL or PROPERTIES_SIZE_EXCEEDED."""
        prep = prepare_record(msg)
        size = prep.size
        if (
            len(prep.topic) > MAX_TOPIC_LENGTH
            or len(prep.properties) > MAX_PROPERTIES_LENGTH
            or len(msg.body) > self._max_body
            or size + END_FILE_MIN_BLANK_LENGTH > self._file_size
        ):
            return self._check(msg, prep) or _ILLEGAL
        # Fast path inline: the last segment has room (checked without a method call).
        files = self.queue.files
        mf = files[-1] if files else None
        if mf is None or size + END_FILE_MIN_BLANK_LENGTH > mf.file_size - mf.wrote_position:
            if mf is not None:  # a BLANK marker goes where the queue may describe older bytes
                self._forget_handoff_from(mf.file_from_offset + mf.wrote_position)
            try:
                mf = self._writable_file(size)
            except (OSError, StoreError):
                return _CREATE_FAILED
        pos = mf.wrote_position
        phy = mf.file_from_offset + pos
        store_ts = time.time_ns() // 1_000_000
        if store_ts < self.last_store_timestamp:  # never backwards in file order
            store_ts = self.last_store_timestamp
        self.last_store_timestamp = store_ts
        if msg.sys_flag & 0x4:  # PREPARED / ROLLBACK: stored, never dispatched, no queue offset
            queue_offset = 0
        else:
            key = (msg.topic, msg.queue_id)
            queue_offsets = self.queue_offsets
            queue_offset = queue_offsets.get(key, 0)
            queue_offsets[key] = queue_offset + 1
        write_record(mf.mm, pos, msg, prep, queue_offset, phy, store_ts)
        mf.wrote_position = pos + size
        self._hand_off(msg, phy, size, prep.sys_flag, queue_offset, store_ts)
        prefix = self._id_prefixes.get(msg.store_host)
        msg_id = f"{prefix}{phy:016X}" if prefix is not None else self._msg_id(msg.store_host, phy)
        return PutResult(PutStatus.PUT_OK, AppendResult(phy, size, msg_id, store_ts, queue_offset, 1))

    def put_batch(self, batch: list[BrokerMessage]) -> PutResult:
        """Append records of one topic/queue contiguously, with consecutive queue offsets.

        The whole batch goes to one segment (a BLANK marker is written when it does not fit).
        Transactional batches are MESSAGE_ILLEGAL; the body limit applies to the summed bodies.
        """
        if not batch:
            return _ILLEGAL
        first = batch[0]
        key = (first.topic, first.queue_id)
        preps: list[PreparedRecord] = []
        total = 0
        body_total = 0
        for msg in batch:
            if (msg.topic, msg.queue_id) != key or msg.sys_flag & 0xC:
                return _ILLEGAL
            prep = prepare_record(msg)
            bad = self._check(msg, prep)
            if bad is not None:
                return bad
            preps.append(prep)
            total += prep.size
            body_total += len(msg.body)
        if body_total > self._max_body or total + END_FILE_MIN_BLANK_LENGTH > self._file_size:
            return _ILLEGAL
        last = self.queue.files[-1] if self.queue.files else None
        if last is not None:
            self._forget_handoff_from(last.file_from_offset + last.wrote_position)
        try:
            mf = self._writable_file(total)
        except (OSError, StoreError):
            return _CREATE_FAILED
        pos = mf.wrote_position
        begin = mf.file_from_offset + pos
        store_ts = self._store_timestamp()
        first_queue_offset = queue_offset = self.queue_offsets.get(key, 0)
        ids: list[str] = []
        mm = mf.mm
        for msg, prep in zip(batch, preps, strict=True):
            phy = mf.file_from_offset + pos
            write_record(mm, pos, msg, prep, queue_offset, phy, store_ts)
            self._hand_off(msg, phy, prep.size, prep.sys_flag, queue_offset, store_ts)
            ids.append(self._msg_id(msg.store_host, phy))
            pos += prep.size
            queue_offset += 1
        mf.wrote_position = pos
        self.queue_offsets[key] = queue_offset
        return PutResult(
            PutStatus.PUT_OK,
            AppendResult(begin, total, ",".join(ids), store_ts, first_queue_offset, len(batch)),
        )

    # ---- replication --------------------------------------------------------------------------
    def append_raw(self, offset: int, data: bytes) -> bool:
        """Append raw commit-log bytes received from a master at ``offset`` (a slave's write path).

        ``offset`` must be the current end of the log; an empty log starts at the segment holding
        ``offset``. The bytes never span two segments (the master cuts its batches at segment ends);
        they may end inside a record, which dispatch then waits to see completed.

        Returns:
            False when ``offset`` is not the end of the log or the bytes do not fit the segment.

        Raises:
            StoreError: a segment cannot be created.
        """
        files = self.queue.files
        if files and offset != self.queue.max_offset:
            return False
        self.handoff.clear()  # these bytes are the master's; nothing queued here describes them
        was_empty = not files
        mf = files[-1] if files else None
        if mf is None or mf.is_full:
            mf = self.queue.create_file(offset - offset % self._file_size)
            if was_empty:  # first segment of an empty log: it may start mid-file
                mf.set_positions(offset % self._file_size)
                self.queue.set_flushed_where(offset)
        if mf.file_from_offset + mf.wrote_position != offset:
            return False
        return mf.append(data)

    def transfer_slice(self, offset: int, max_bytes: int) -> bytes | None:
        """Up to ``max_bytes`` written bytes from ``offset``, never crossing a segment end (HA master).

        None when nothing is readable there yet (the end of the log, or a segment not yet created)
        or any more (deleted).
        """
        mf = self.queue.locate(offset)
        if mf is None:
            return None
        pos = offset - mf.file_from_offset
        end = min(mf.wrote_position, pos + max_bytes)
        if end <= pos:
            return None
        return mf.mm[pos:end]

    # ---- read path ----------------------------------------------------------------------------
    def read(self, offset: int, size: int) -> bytes | None:
        """Copy of the ``size`` bytes at ``offset`` (one record), or None if gone or not written."""
        mf = self.queue.locate(offset)
        if mf is None:
            return None
        return mf.read(offset - mf.file_from_offset, size)

    def record_size_at(self, offset: int) -> int:
        """TOTALSIZE of the record at ``offset`` (-1 if unreadable)."""
        mf = self.queue.locate(offset)
        if mf is None:
            return -1
        pos = offset - mf.file_from_offset
        if pos + 4 > mf.wrote_position:
            return -1
        return int(_I32.unpack_from(mf.mm, pos)[0])

    def pickup_store_timestamp(self, offset: int, size: int) -> int:
        """STORETIMESTAMP of the record at ``offset`` (-1 if it is gone)."""
        mf = self.queue.locate(offset)
        if mf is None:
            return -1
        pos = offset - mf.file_from_offset
        if size < 91 or pos + size > mf.wrote_position:
            return -1
        (sys_flag,) = _I32.unpack_from(mf.mm, pos + 36)
        born_host_len = 20 if sys_flag & 0x10 else 8
        return int(_I64.unpack_from(mf.mm, pos + 48 + born_host_len)[0])

    # ---- lifecycle ----------------------------------------------------------------------------
    def load(self) -> None:
        """Open existing segments (positions at file size until recovery)."""
        self.queue.load()

    def close(self) -> None:
        """Unmap every segment."""
        self.queue.close()
