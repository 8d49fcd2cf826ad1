"""Delayed messages: ``SCHEDULE_TOPIC_XXXX`` write-side routing and the delivery service (storage spec §4).

A message with property ``DELAY`` = level > 0 is stored in ``SCHEDULE_TOPIC_XXXX`` queue ``level - 1``
with ``REAL_TOPIC`` / ``REAL_QID`` naming where it belongs; the store puts its delivery time
(store time + the level's delay) into the consume-queue tagsCode. Since every entry of one level has
the same delay, a level's queue is ordered by delivery time, so its head decides when anything is due.

Apache polls each level every 100 ms. Here each level is one asyncio task that sleeps exactly until
its head entry is due, or until the store reports a new entry for the level (``notify_arrival``);
a failed put is retried after 100 ms and an unexpected error after 10 s, as in Apache. The next
consume-queue offset per level is kept in ``config/delayOffset.json``
(``{"offsetTable":{1:5,2:0,...}}``, fastjson's unquoted integer keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from broker_core.broker.persist import ConfigFile, SnapshotFile
from broker_core.broker.topics import SCHEDULE_TOPIC, TRANS_HALF_TOPIC
from broker_core.logsetup import get_logger
from broker_core.message.model import BrokerMessage, MessageExt
from broker_core.message.properties import MessageConst, encode_properties, tags_hash_code
from broker_core.message.sysflag import TRANSACTION_TYPE_MASK, MessageSysFlag
from broker_core.store.consume_queue import FILLER_SIZE
from broker_core.store.message_store import MessageStore
from broker_core.store.results import PutStatus

__all__ = ["ScheduleMessageService", "delayed_destination", "replace_property"]

log = get_logger(__name__)

_RETRY_AFTER_PUT_FAILURE = 0.1  # Apache DELAY_FOR_A_WHILE
_RETRY_AFTER_ERROR = 10.0  # Apache DELAY_FOR_A_PERIOD
_SCAN_BATCH = 64
_PUT_OK = (PutStatus.PUT_OK, PutStatus.FLUSH_DISK_TIMEOUT, PutStatus.FLUSH_SLAVE_TIMEOUT)


def replace_property(props: str, name: str, value: str | None) -> str:
    """Encoded ``props`` with ``name`` set to ``value`` (removed when ``None``), other entries untouched."""
    pieces = [p for p in props.split("\x02") if p and not p.startswith(name + "\x01")]
    if value is not None:
        pieces.append(f"{name}\x01{value}")
    return "".join(p + "\x02" for p in pieces)


def delayed_destination(
    topic: str, queue_id: int, props: str, level: int, sys_flag: int, max_level: int
) -> tuple[str, int, str] | None:
    """Where a message with ``DELAY`` = ``level`` is parked: (schedule topic, queue, properties).

    ``None`` when it is not delayed (level <= 0, or a prepared/rolled-back transactional message).
    The level is clamped to ``max_level`` (and ``DELAY`` rewritten), as ``CommitLog.asyncPutMessage``.
    """
    tx = sys_flag & TRANSACTION_TYPE_MASK
    if level <= 0 or max_level <= 0 or tx not in (0, MessageSysFlag.TRANSACTION_COMMIT):
        return None
    if level > max_level:
        level = max_level
        props = replace_property(props, MessageConst.DELAY, str(level))
    props = replace_property(props, MessageConst.REAL_TOPIC, topic)
    props = replace_property(props, MessageConst.REAL_QID, str(queue_id))
    return SCHEDULE_TOPIC, level - 1, props


class ScheduleMessageService(SnapshotFile):
    """One delivery task per delay level; see module docstring."""

    def __init__(self, store: MessageStore, levels: Mapping[int, int], config_dir: Path) -> None:
        self.store = store
        self.levels = dict(levels)  # level -> delay ms
        self.offsets: dict[int, int] = {}
        self._file = ConfigFile(config_dir / "delayOffset.json")
        self._wake: dict[int, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty = False

    @property
    def max_level(self) -> int:
        return max(self.levels, default=0)

    # ---- persistence --------------------------------------------------------------------------
    def load(self) -> None:
        """Read ``delayOffset.json`` and clamp each offset into its level queue's [min, max]."""

        def parse(obj: Any) -> dict[int, int]:
            return {int(k): int(v) for k, v in (obj.get("offsetTable") or {}).items()}

        self.offsets = self._file.load(parse) or {}
        for level, offset in list(self.offsets.items()):
            cq = self.store.queues.find(SCHEDULE_TOPIC, level - 1)
            if cq is not None:
                self.offsets[level] = min(max(offset, cq.min_offset_in_queue), cq.max_offset_in_queue)

    def to_json_dict(self) -> dict[str, Any]:
        return {"offsetTable": dict(sorted(self.offsets.items()))}

    def persist(self, force: bool = False) -> None:
        if self._dirty or force:
            self._dirty = False
            self._file.save(self.to_json_dict())

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.load()
        loop = asyncio.get_running_loop()
        for level in sorted(self.levels):
            self._wake[level] = asyncio.Event()
            self._tasks.append(loop.create_task(self._run_level(level), name=f"schedule-level-{level}"))
        log.info("schedule service started", levels=len(self.levels))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.persist(force=True)

    def notify_arrival(self, queue_id: int) -> None:
        """A new entry reached ``SCHEDULE_TOPIC_XXXX`` queue ``queue_id``: re-plan that level."""
        event = self._wake.get(queue_id + 1)
        if event is not None:
            event.set()

    def progress(self) -> dict[int, tuple[int, int]]:
        """level -> (delivered offset, queue max offset), for runtime info."""
        out: dict[int, tuple[int, int]] = {}
        for level in sorted(self.levels):
            cq = self.store.queues.find(SCHEDULE_TOPIC, level - 1)
            out[level] = (self.offsets.get(level, 0), cq.max_offset_in_queue if cq is not None else 0)
        return out

    # ---- delivery -----------------------------------------------------------------------------
    async def _run_level(self, level: int) -> None:
        event = self._wake[level]
        while True:
            event.clear()
            try:
                wait = await self._deliver_due(level)
            except Exception:
                log.exception("delivering delayed messages failed", level=level)
                wait = _RETRY_AFTER_ERROR
            if wait is None:
                await event.wait()
            elif wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), wait)

    async def _deliver_due(self, level: int) -> float | None:
        """Deliver every due entry of ``level``; seconds until the next is due (None: queue drained)."""
        cq = self.store.queues.find(SCHEDULE_TOPIC, level - 1)
        if cq is None:
            return None
        delay_ms = self.levels[level]
        offset = min(max(self.offsets.get(level, 0), cq.min_offset_in_queue), cq.max_offset_in_queue)
        while offset < cq.max_offset_in_queue:
            units = cq.get_units(offset, _SCAN_BATCH)
            if not units:  # slot not readable yet (e.g. a file being rolled): look again shortly
                self._advance(level, offset)
                return _RETRY_AFTER_PUT_FAILURE
            for phy, size, deliver_at in units:
                if size == FILLER_SIZE or phy < 0 or size <= 0:
                    offset += 1
                    continue
                now = int(time.time() * 1000)
                if deliver_at > now + delay_ms:  # clock jumped back: deliver now
                    deliver_at = now
                if deliver_at > now:
                    self._advance(level, offset)
                    return (deliver_at - now) / 1000.0
                msg = self.store.look_message_by_offset(phy)
                real_topic = msg.properties.get(MessageConst.REAL_TOPIC) if msg is not None else None
                if msg is not None and real_topic and real_topic != TRANS_HALF_TOPIC:
                    result = await self.store.put_message(self._time_up(msg), wait_store_msg_ok=False)
                    if result.status not in _PUT_OK:
                        log.warning("delayed message re-put failed", level=level, status=result.status.name)
                        self._advance(level, offset)
                        return _RETRY_AFTER_PUT_FAILURE
                offset += 1
                self._advance(level, offset)
            await asyncio.sleep(0)  # a large due backlog must not starve request handling
        return None

    def _advance(self, level: int, offset: int) -> None:
        if self.offsets.get(level) != offset:
            self.offsets[level] = offset
            self._dirty = True

    @staticmethod
    def _time_up(msg: MessageExt) -> BrokerMessage:
        """The real message (``messageTimeup``): DELAY removed, REAL_TOPIC/REAL_QID restored."""
        props = {k: v for k, v in msg.properties.items() if k != MessageConst.DELAY}
        topic = props.get(MessageConst.REAL_TOPIC, msg.topic)
        try:
            queue_id = int(props.get(MessageConst.REAL_QID, "0"))
        except ValueError:
            queue_id = 0
        return BrokerMessage(
            topic=topic,
            queue_id=queue_id,
            body=msg.body,
            properties_str=encode_properties(props),
            flag=msg.flag,
            tags_code=tags_hash_code(props.get(MessageConst.TAGS)),
            sys_flag=msg.sys_flag,
            born_timestamp=msg.born_timestamp,
            born_host=msg.born_host,
            store_host=msg.store_host,
            reconsume_times=msg.reconsume_times,
            prepared_transaction_offset=msg.prepared_transaction_offset,
        )
