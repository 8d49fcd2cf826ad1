"""Dispatch: tail the commit log and feed consume queues, the index and the long-poll hook.

``ReputService`` runs as loop callbacks: the write path calls ``wake()`` after every append, which
queues one pass (``call_soon``) unless one is queued already. A pass dispatches everything between
``reput_from_offset`` and the commit log's write position, in slices of ``batch_limit`` records with
the loop's other work in between, so a large backlog — e.g. after recovery — cannot starve request
handling.

Dispatchers run in list order (the consume-queue builder first; the index builder slots in after it).
After the dispatchers, ``arrival_listener(topic, queue_id, logic_offset + 1, tags_code, store_timestamp,
properties_str)`` lets the broker wake long-polling pulls.

Where the facts of a record come from: the appending :class:`CommitLog` already knows every one of
them, so it leaves a :class:`DispatchRequest` per record in its ``handoff`` queue and dispatch takes
it from there when it is the record at the dispatch position (its size and magic are checked in the
mapping). Everything else — recovery's backlog, a slave's replicated bytes, records the bounded
handoff queue dropped — is scanned from the mapped segment by :func:`parse_record`, which reads only
the properties dispatch needs (:func:`property_value`), never all of them. Both give the same request
for the same record (``tests/unit/store/test_store_dispatch_handoff.py``).

:func:`parse_record` is the header scanner shared with recovery: it validates a record's framing
(and optionally its body CRC) without decoding the body.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from broker_core.logsetup import get_logger
from broker_core.message.codec import BLANK_MAGIC_CODE, MESSAGE_MAGIC_CODE, ReadableBuffer, head_struct
from broker_core.message.properties import MessageConst, property_value, tags_hash_code

if TYPE_CHECKING:
    from broker_core.store.commit_log import CommitLog

__all__ = ["ArrivalListener", "DispatchRequest", "Dispatcher", "ReputService", "parse_record"]

log = get_logger(__name__)

_MAGIC = struct.Struct(">ii")
_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")
_SCHEDULE_TOPIC = MessageConst.SCHEDULE_TOPIC

ArrivalListener = Callable[[str, int, int, int, int, str], None]
"""(topic, queue id, next queue offset, tagsCode, store timestamp, properties string)."""
_KEYS = MessageConst.KEYS
_UNIQ_KEY = MessageConst.UNIQ_KEY
_TAGS = MessageConst.TAGS
_DELAY = MessageConst.DELAY


@dataclass(slots=True)
class DispatchRequest:
    """Header facts of one stored record, as the dispatchers need them.

    ``properties_str`` is the record's properties string as stored (decode it with
    :func:`~broker_core.message.properties.decode_properties` if a dispatcher needs more than the
    keys and the tags code).
    """

    topic: str
    queue_id: int
    commit_log_offset: int
    msg_size: int
    tags_code: int
    store_timestamp: int
    consume_queue_offset: int
    sys_flag: int
    prepared_transaction_offset: int
    keys: str = ""
    uniq_key: str = ""
    properties_str: str = ""


class Dispatcher(Protocol):
    """Something built from the commit log (consume queue, index, filter bitmap)."""

    def dispatch(self, request: DispatchRequest) -> None:
        """Apply one record; must be idempotent for records it has already seen."""


def parse_record(
    buf: ReadableBuffer,
    pos: int,
    limit: int,
    base_offset: int,
    *,
    check_crc: bool,
    with_properties: bool = True,
    delay_levels: Mapping[int, int] | None = None,
) -> DispatchRequest | int:
    """Validate and scan the record at ``buf[pos]``.

    Args:
        buf: segment mapping.
        pos: position in ``buf``.
        limit: end of readable bytes in ``buf``.
        base_offset: global offset of ``buf[0]``.
        check_crc: verify the body CRC (recovery).
        with_properties: decode properties, tags code, keys (dispatch); skip for recovery.
        delay_levels: level -> delay ms, for the delivery-time tags code of SCHEDULE_TOPIC_XXXX.

    Returns:
        A :class:`DispatchRequest`; ``0`` for a BLANK end-of-file marker; ``-1`` for bytes that are not
        a complete valid record (end of data, torn write, corruption).
    """
    if pos + 8 > limit:
        return -1
    total, magic = _MAGIC.unpack_from(buf, pos)
    if magic == BLANK_MAGIC_CODE:
        return 0
    if magic != MESSAGE_MAGIC_CODE or total <= 0 or pos + total > limit or total < 91:
        return -1
    (sys_flag,) = _I32.unpack_from(buf, pos + 36)
    head = head_struct(sys_flag)
    (
        _t, _m, crc, queue_id, _flag, queue_offset, _phy, sys_flag, _born_ts, _ba, _bp,
        store_ts, _sa, _sp, _rc, prepared, blen,
    ) = head.unpack_from(buf, pos)  # fmt: skip
    p = pos + head.size
    end = pos + total
    if blen < 0 or p + blen + 3 > end:
        return -1
    if check_crc and blen and zlib.crc32(buf[p : p + blen]) & 0x7FFFFFFF != crc:
        return -1
    p += blen
    tlen = buf[p]
    p += 1
    if p + tlen + 2 > end:
        return -1
    topic_raw = buf[p : p + tlen]
    p += tlen
    (plen,) = _I16.unpack_from(buf, p)
    p += 2
    if plen < 0 or p + plen != end:
        return -1
    try:
        topic = bytes(topic_raw).decode("utf-8")
    except UnicodeDecodeError:
        return -1
    req = DispatchRequest(
        topic, queue_id, base_offset + pos, total, 0, store_ts, queue_offset, sys_flag, prepared
    )
    if with_properties and plen:
        text = bytes(buf[p : p + plen]).decode("utf-8", "replace")
        req.properties_str = text
        if "KEYS\x01" in text:  # (the guards skip the scans for names the record does not carry)
            req.keys = property_value(text, _KEYS) or ""
        if "UNIQ_KEY\x01" in text:
            req.uniq_key = property_value(text, _UNIQ_KEY) or ""
        if "TAGS\x01" in text:
            tags = property_value(text, _TAGS)
            if tags:
                req.tags_code = tags_hash_code(tags)
        if topic == _SCHEDULE_TOPIC:
            delay = property_value(text, _DELAY)
            if delay is not None:
                req.tags_code = _deliver_time(delay, store_ts, delay_levels)
    return req


def _incomplete_tail(buf: ReadableBuffer, pos: int, limit: int) -> bool:
    """The bytes at ``pos`` are the start of a record whose end is not written yet.

    Only a slave sees this: the master streams raw bytes cut at a batch size, not at record ends.
    """
    if pos + 8 > limit:
        return True
    total, magic = _MAGIC.unpack_from(buf, pos)
    return bool(magic == MESSAGE_MAGIC_CODE and total >= 91 and pos + total > limit)


def _deliver_time(level_text: str, store_ts: int, delay_levels: Mapping[int, int] | None) -> int:
    """Delivery time of a delayed record (``ScheduleMessageService.computeDeliverTimestamp``)."""
    try:
        level = int(level_text)
    except ValueError:
        return store_ts + 1000
    if delay_levels:
        level = min(level, max(delay_levels))
        delay = delay_levels.get(level)
        if delay is not None:
            return store_ts + delay
    return store_ts + 1000


class ReputService:
    """Tails the commit log into the dispatchers; see module docstring."""

    def __init__(
        self,
        commit_log: CommitLog,
        dispatchers: list[Dispatcher],
        *,
        reput_from_offset: int = 0,
        arrival_listener: ArrivalListener | None = None,
        delay_levels: Mapping[int, int] | None = None,
        batch_limit: int = 4096,
    ) -> None:
        self.commit_log = commit_log
        self.dispatchers = dispatchers
        self.reput_from_offset = reput_from_offset
        self.arrival_listener = arrival_listener
        self.delay_levels = dict(delay_levels or {})
        self.batch_limit = batch_limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._scheduled = False  # a pass is queued on the loop (call_soon)
        self._waiters: list[asyncio.Future[None]] = []
        #: the last pass stopped at a record whose end has not arrived yet (slaves only)
        self.tail_incomplete = False
        #: DLedger mode: dispatch only up to this offset (the committed end), not the written end
        self.confirm_offset: Callable[[], int] | None = None

    # ---- control ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start dispatching (on the running loop)."""
        self._loop = asyncio.get_running_loop()
        self._running = True
        self.wake()

    def wake(self) -> None:
        """Signal new data (called by the write path after every append).

        Queues one pass with ``call_soon`` unless one is queued already: every append of a loop turn
        shares it, and there is no task, event or future per wake-up (one of each per loop turn was
        measurable when a turn carries only a few messages, as under SYNC_FLUSH).
        """
        if not self._scheduled and self._running:
            self._scheduled = True
            loop = self._loop
            assert loop is not None
            loop.call_soon(self._pass)

    async def shutdown(self) -> None:
        """Dispatch what is left, then stop."""
        if not self._running:
            return
        self._running = False
        while True:
            try:
                more = self.do_reput()
            except Exception:  # as in a pass: logged, and nothing more is dispatched
                log.exception("reput failed", reput_from_offset=self.reput_from_offset)
                break
            if not more:
                break
            await asyncio.sleep(0)
        self._release_waiters()

    def dispatch_end(self) -> int:
        """Where dispatch stops: the written end, or the confirmed end when one is set."""
        end = self.commit_log.max_offset
        return end if self.confirm_offset is None else min(end, self.confirm_offset())

    def behind(self) -> int:
        """Bytes written (confirmed) but not yet dispatched."""
        return max(0, self.dispatch_end() - self.reput_from_offset)

    async def wait_dispatched(self) -> None:
        """Return once everything written so far has been dispatched."""
        while self.behind() > 0 and not self.tail_incomplete and self._running:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            self.wake()
            await fut

    # ---- work ---------------------------------------------------------------------------------
    def _pass(self) -> None:
        """One slice of dispatch; queues the next slice (after the loop's other ready work) if more
        is waiting, so a large backlog (e.g. after recovery) cannot starve request handling."""
        self._scheduled = False
        if not self._running:
            return
        try:
            more = self.do_reput()
        except Exception:  # a dispatcher bug must not kill dispatch for good
            log.exception("reput failed", reput_from_offset=self.reput_from_offset)
            self._release_waiters()  # nobody may hang on a record that cannot be dispatched
            return
        if more:
            self.wake()
        elif self._waiters and (self.behind() <= 0 or self.tail_incomplete):
            self._release_waiters()

    def _release_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def do_reput(self) -> bool:
        """Dispatch up to ``batch_limit`` records; True if more are waiting."""
        queue = self.commit_log.queue
        if self.reput_from_offset < queue.min_offset:
            self.reput_from_offset = queue.min_offset
        max_offset = self.dispatch_end()
        dispatchers = self.dispatchers
        listener = self.arrival_listener
        levels = self.delay_levels
        budget = self.batch_limit
        handoff = self.commit_log.handoff
        self.tail_incomplete = False
        while self.reput_from_offset < max_offset:
            mf = queue.locate(self.reput_from_offset)
            if mf is None:
                return False
            base = mf.file_from_offset
            pos = self.reput_from_offset - base
            limit = min(mf.wrote_position, max_offset - base)
            cut = limit < mf.wrote_position  # stopped by the confirmed end, not by the data
            mm = mf.mm
            while pos < limit and budget > 0:
                req: DispatchRequest | int | None = None
                at = base + pos
                while handoff:  # the appender's request for this record, if it is still queued
                    first = handoff[0]
                    first_offset = first.commit_log_offset
                    if first_offset > at:
                        break
                    if first_offset == at:
                        size = first.msg_size
                        if pos + size > limit or _MAGIC.unpack_from(mm, pos) != (size, MESSAGE_MAGIC_CODE):
                            break
                        req = first
                    handoff.popleft()
                    if req is not None:
                        break
                if req is None:
                    req = parse_record(mm, pos, limit, base, check_crc=False, delay_levels=levels)
                if isinstance(req, DispatchRequest):
                    for dispatcher in dispatchers:
                        dispatcher.dispatch(req)
                    if listener is not None and req.sys_flag & 0x4 == 0:  # not PREPARED/ROLLBACK
                        listener(
                            req.topic, req.queue_id, req.consume_queue_offset + 1, req.tags_code,
                            req.store_timestamp, req.properties_str,
                        )  # fmt: skip
                    pos += req.msg_size
                    budget -= 1
                elif req == 0:
                    pos = mf.file_size  # BLANK: continue in the next segment
                elif mf is queue.files[-1] and _incomplete_tail(mm, pos, limit):
                    self.reput_from_offset = base + pos  # a slave got part of a record: wait for the rest
                    self.tail_incomplete = True
                    return False
                else:
                    log.error("[BUG] undecodable record during dispatch, skipping", offset=base + pos)
                    pos = limit
            if pos >= limit and budget > 0 and not cut and mf is not queue.files[-1]:
                pos = mf.file_size  # a non-last segment ends early: never spin on it
            self.reput_from_offset = base + pos
            if cut and pos >= limit:
                return False
            if budget <= 0:
                return self.reput_from_offset < self.dispatch_end()
        return False
