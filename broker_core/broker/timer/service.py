"""5.x timer messages: send-side transform and the delivery service (storage spec 4.6).

Send side (:func:`transform_timer_message`, pure): a message carrying ``TIMER_DELAY_SEC``,
``TIMER_DELAY_MS``, ``TIMER_DELIVER_MS`` (that priority) or the legacy ``__STARTDELIVERTIME`` with a
time in the future is parked in ``rmq_sys_wheel_timer`` queue 0 with ``TIMER_OUT_MS``,
``REAL_TOPIC`` and ``REAL_QID`` added. A time in the past means "deliver now" (no transform); a
delay beyond ``timerMaxDelaySec`` or an unparsable value is refused.

Delivery side (:class:`TimerService`): an enqueue task reads the parked queue from the offset in
``config/timercheck`` (woken by the store's arrival listener), appends the units to the timer log
and links them into the wheel; a tick task expires the wheel one precision unit at a time and
re-puts each due message to its real topic and queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from broker_core.broker.persist import ConfigFile
from broker_core.broker.timer.wheel import HashedWheel, TimerLog, TimerUnit, UnitMagic, tick_of
from broker_core.config.broker import BrokerConfig
from broker_core.errors import MessageDecodeError
from broker_core.logsetup import get_logger
from broker_core.message.codec import decode_record
from broker_core.message.model import BrokerMessage, MessageExt
from broker_core.message.properties import MessageConst, decode_properties, encode_properties, tags_hash_code
from broker_core.store.message_store import MessageStore
from broker_core.store.results import PutResult

log = get_logger(__name__)

TIMER_TOPIC = "rmq_sys_wheel_timer"
TIMER_GROUP = "rmq_sys_wheel_timer_group"
#: buckets of the in-memory wheel (one hour of 1 s ticks; later units wait for their round)
WHEEL_SLOTS = 3600
#: due messages re-put per step (bounds the latency of the first ones in a burst)
PUT_BATCH = 2048
TIMER_OUT_MS = "TIMER_OUT_MS"
TIMER_ENQUEUE_MS = "TIMER_ENQUEUE_MS"
TIMER_DEQUEUE_MS = "TIMER_DEQUEUE_MS"
_TRIGGERS = (
    MessageConst.TIMER_DELAY_SEC,
    MessageConst.TIMER_DELAY_MS,
    MessageConst.TIMER_DELIVER_MS,
    MessageConst.START_DELIVER_TIME,
)
_PARK_KEYS = frozenset({MessageConst.REAL_TOPIC, MessageConst.REAL_QID})
_RELATIVE_KEYS = frozenset({MessageConst.TIMER_DELAY_SEC, MessageConst.TIMER_DELAY_MS})


class TimerMessageError(ValueError):
    """A timer property is unparsable or beyond ``timerMaxDelaySec`` (answered MESSAGE_ILLEGAL)."""


def deliver_time_ms(props: Mapping[str, str], now_ms: int) -> int | None:
    """Absolute delivery time requested by the properties, ``None`` if not a timer message."""
    for key in _TRIGGERS:
        raw = props.get(key)
        if raw is None:
            continue
        try:
            value = int(raw.strip())
        except ValueError:
            raise TimerMessageError(f"timer message property {key}={raw!r} is not an integer") from None
        if key == MessageConst.TIMER_DELAY_SEC:
            return now_ms + value * 1000
        if key == MessageConst.TIMER_DELAY_MS:
            return now_ms + value
        return value
    return None


def transform_timer_message(
    cfg: BrokerConfig, topic: str, queue_id: int, props: Mapping[str, str], now_ms: int
) -> tuple[str, int, dict[str, str]] | None:
    """Where to park a timer message and its new properties; ``None`` = store as is.

    Raises:
        TimerMessageError: unparsable value, timers disabled, or delay beyond the maximum.
    """
    if topic == TIMER_TOPIC or MessageConst.DELAY in props or props.get(MessageConst.TRAN_MSG) == "true":
        return None
    deliver = deliver_time_ms(props, now_ms)
    if deliver is None or deliver <= now_ms:
        return None
    if not cfg.timer_wheel_enable:
        raise TimerMessageError("timer messages are not enabled on this broker (timerWheelEnable=false)")
    if deliver - now_ms > cfg.timer_max_delay_sec * 1000:
        raise TimerMessageError(
            f"timer message delay {(deliver - now_ms) // 1000} s exceeds the maximum of "
            f"{cfg.timer_max_delay_sec} s (timerMaxDelaySec)"
        )
    out = dict(props)
    out[TIMER_OUT_MS] = str(deliver)
    out[MessageConst.REAL_TOPIC] = topic
    out[MessageConst.REAL_QID] = str(queue_id)
    return TIMER_TOPIC, 0, out


def intercept_send(
    cfg: BrokerConfig, topic: str, queue_id: int, props_str: str
) -> tuple[str, int, str] | None:
    """Send-path hook on the encoded properties string; cheap when no timer property is present."""
    if "TIMER_" not in props_str and MessageConst.START_DELIVER_TIME not in props_str:
        return None
    parked = transform_timer_message(
        cfg, topic, queue_id, decode_properties(props_str), int(time.time() * 1000)
    )
    if parked is None:
        return None
    return parked[0], parked[1], encode_properties(parked[2])


def restore_message(ext: MessageExt, store_host: tuple[str, int], now_ms: int) -> BrokerMessage | None:
    """The message to re-put at delivery: real topic/queue restored, bookkeeping properties set."""
    real_topic = ext.properties.get(MessageConst.REAL_TOPIC)
    real_qid = ext.properties.get(MessageConst.REAL_QID, "0")
    if not real_topic or not real_qid.isdigit():
        return None
    props = {k: v for k, v in ext.properties.items() if k not in _PARK_KEYS and k not in _RELATIVE_KEYS}
    props[TIMER_ENQUEUE_MS] = str(ext.store_timestamp)
    props[TIMER_DEQUEUE_MS] = str(now_ms)
    return BrokerMessage(
        topic=real_topic,
        queue_id=int(real_qid),
        body=ext.body,
        properties_str=encode_properties(props),
        flag=ext.flag,
        tags_code=tags_hash_code(props.get(MessageConst.TAGS)),
        sys_flag=ext.sys_flag,
        born_timestamp=ext.born_timestamp,
        born_host=ext.born_host,
        store_host=store_host,
        reconsume_times=ext.reconsume_times,
    )


class TimerService:
    """Enqueue and tick tasks around one :class:`HashedWheel`; see the module docstring."""

    def __init__(
        self,
        cfg: BrokerConfig,
        store: MessageStore,
        store_root: Path,
        store_host: Callable[[], tuple[str, int]],
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.store_host = store_host
        self.precision_ms = max(1, cfg.timer_precision_ms)
        self.wheel = HashedWheel(WHEEL_SLOTS, self.precision_ms)
        self.timer_log = TimerLog(store_root / "timerlog" / "timerlog")
        self._check = ConfigFile(store_root / "config" / "timercheck.json")
        self.queue_offset = 0
        self._arrived = asyncio.Event()
        self._added = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._cursor = 0  # last expired tick
        self._check_handle: asyncio.TimerHandle | None = None
        #: the checkpoint write in flight (a worker thread: its fsync must not stall the loop)
        self._check_saving: asyncio.Task[None] | None = None
        self.delivered = 0
        self._log = log.bind(service="timer")

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        data = self._check.load(lambda obj: dict(obj))
        if data is not None:
            self.queue_offset = int(data.get("lastTimerQueueOffset", 0))
        units = self.timer_log.replay()
        now_ms = int(time.time() * 1000)
        # A unit due before now may have been re-put just before a crash that lost its DONE record.
        delivered = [u for u in units if u.deliver_ms <= now_ms and self._already_delivered(u)]
        if delivered:
            self.timer_log.append(UnitMagic.DONE, delivered)
            done = {u.offset_py for u in delivered}
            units = [u for u in units if u.offset_py not in done]
            self._log.info("timer messages already delivered before the restart", count=len(delivered))
        for unit in units:
            self.wheel.add(unit)
        self._cursor = now_ms // self.precision_ms  # ticks up to here have begun
        overdue = [u for u in units if tick_of(u.deliver_ms, self.precision_ms) <= self._cursor]
        for unit in overdue:  # due while the broker was down: deliver on the first tick
            self.wheel.expire(tick_of(unit.deliver_ms, self.precision_ms))
            self._relink_now(unit)
        self._log.info("timer wheel loaded", pending=len(self.wheel), queue_offset=self.queue_offset)
        loop = asyncio.get_running_loop()
        self._arrived.set()
        self._tasks = [
            loop.create_task(self._enqueue_loop(), name="timer-enqueue"),
            loop.create_task(self._tick_loop(), name="timer-tick"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        saving = self._check_saving
        if saving is not None:  # an older checkpoint must not land after the final one
            with contextlib.suppress(Exception):
                await saving
        self.timer_log.fsync()
        self._persist_check()

    def notify_arrival(self, topic: str) -> None:
        """Store arrival listener hook: a record was dispatched to ``topic``."""
        if topic == TIMER_TOPIC:
            self._arrived.set()

    def _already_delivered(self, unit: TimerUnit) -> bool:
        """Whether an overdue unit was re-put before a crash that lost its DONE record.

        A crash can fall between the re-put (the message is in the commit log) and the DONE append.
        The store has re-indexed the commit log before this service starts, so the re-put copy is
        found by its UNIQ_KEY in the real topic: it carries TIMER_DEQUEUE_MS, the parked copy does not.
        """
        ext = self.store.look_message_by_offset(unit.offset_py)
        if ext is None:
            return False
        uniq = ext.properties.get(MessageConst.UNIQ_KEY)
        real_topic = ext.properties.get(MessageConst.REAL_TOPIC)
        if not uniq or not real_topic:
            return False
        found = self.store.query_message(real_topic, uniq, 32, ext.store_timestamp, int(time.time() * 1000))
        for raw in found.records:
            try:
                copy = decode_record(raw, read_body=False)
            except MessageDecodeError:
                continue
            if (
                copy.topic == real_topic
                and copy.properties.get(MessageConst.UNIQ_KEY) == uniq
                and TIMER_DEQUEUE_MS in copy.properties
            ):
                return True
        return False

    def _persist_check(self) -> None:
        """Write the checkpoint now, blocking (shutdown)."""
        if self._check_handle is not None:
            self._check_handle.cancel()
            self._check_handle = None
        self._check.save(self._check_data())

    def _check_data(self) -> dict[str, int]:
        return {"lastTimerQueueOffset": self.queue_offset, "pending": len(self.wheel)}

    def _schedule_check(self) -> None:
        if self._check_handle is None and self._check_saving is None:
            self._check_handle = asyncio.get_running_loop().call_later(0.2, self._persist_check_soon)

    def _persist_check_soon(self) -> None:
        self._check_handle = None
        data = self._check_data()
        self._check_saving = asyncio.get_running_loop().create_task(
            self._save_check(data), name="timer-check"
        )

    async def _save_check(self, data: dict[str, int]) -> None:
        try:
            await asyncio.to_thread(self._check.save, data)
        except OSError:
            self._log.exception("writing the timer checkpoint failed")
        finally:
            self._check_saving = None
        if self.queue_offset != data["lastTimerQueueOffset"]:  # enqueued meanwhile
            self._schedule_check()

    def _relink_now(self, unit: TimerUnit) -> None:
        """Re-add a unit whose tick was already expired so that it fires on the next tick."""
        self.wheel.add(unit, self._cursor + 1)

    # ------------------------------------------------------------------ enqueue
    async def _enqueue_loop(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            try:
                while self._enqueue_batch():
                    await asyncio.sleep(0)
            except Exception:
                self._log.exception("timer enqueue failed")

    def _enqueue_batch(self) -> bool:
        """Move up to 256 parked records into the log and wheel; True if more may be waiting."""
        result = self.store.get_message(TIMER_GROUP, TIMER_TOPIC, 0, self.queue_offset, 256)
        if not result.message_buffers:
            # also moves back after a crash truncated the queue: max_offset_py prevents doubles
            self.queue_offset = result.next_begin_offset
            return False
        units: list[TimerUnit] = []
        for raw in result.message_buffers:
            try:
                ext = decode_record(raw, read_body=False)
            except MessageDecodeError:
                self._log.error("undecodable parked timer record skipped")
                continue
            if ext.commit_log_offset <= self.timer_log.max_offset_py:
                continue  # enqueued before a crash lost the checkpoint: never twice
            out = ext.properties.get(TIMER_OUT_MS, "")
            deliver = int(out) if out.lstrip("-").isdigit() else 0
            units.append(TimerUnit(deliver, ext.commit_log_offset, ext.store_size))
        self.timer_log.append(UnitMagic.ENQUEUE, units)
        for unit in units:
            if tick_of(unit.deliver_ms, self.precision_ms) <= self._cursor:
                self._relink_now(unit)
            else:
                self.wheel.add(unit)
        self.queue_offset = result.next_begin_offset
        self._schedule_check()  # the checkpoint is only a shortcut: written lazily, off the loop
        self._added.set()
        return True

    # ------------------------------------------------------------------ dequeue
    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not len(self.wheel):
                self._added.clear()
                await self._added.wait()
            next_tick = self._cursor + 1
            wait_s = (next_tick - 1) * self.precision_ms / 1000 - time.time()
            if wait_s > 0:
                fut = loop.create_future()
                handle = loop.call_later(wait_s, fut.set_result, None)
                try:
                    await fut
                finally:
                    handle.cancel()
            now_tick = int(time.time() * 1000) // self.precision_ms + 1  # ticks whose interval began
            due = self.wheel.expire_range(self._cursor + 1, max(now_tick, next_tick))
            self._cursor = max(now_tick, next_tick)
            if due:
                try:
                    await self._deliver(due)
                except Exception:
                    self._log.exception("timer delivery failed; retrying next tick")
                    for unit in due:
                        self._relink_now(unit)

    async def _deliver(self, due: list[TimerUnit]) -> None:
        """Re-put the expired units, each not before its own delivery time."""
        loop = asyncio.get_running_loop()
        due.sort(key=lambda u: u.deliver_ms)
        start = 0
        while start < len(due):
            wait_s = due[start].deliver_ms / 1000 - time.time()
            if wait_s > 0:
                fut = loop.create_future()
                handle = loop.call_later(wait_s, fut.set_result, None)
                try:
                    await fut
                finally:
                    handle.cancel()
            now_ms = int(time.time() * 1000)
            end = start
            while end < len(due) and due[end].deliver_ms <= now_ms and end - start < PUT_BATCH:
                end += 1
            await self._put_batch(due[start:end], now_ms)
            start = end

    async def _put_batch(self, due: list[TimerUnit], now_ms: int) -> None:
        done: list[TimerUnit] = []
        puts: list[tuple[TimerUnit, Awaitable[PutResult]]] = []
        for unit in due:
            ext = self.store.look_message_by_offset(unit.offset_py)
            msg = restore_message(ext, self.store_host(), now_ms) if ext is not None else None
            if msg is None:
                self._log.warning("parked timer message missing or malformed, dropped", offset=unit.offset_py)
                done.append(unit)
                continue
            puts.append((unit, self.store.put_message(msg)))
        results = await asyncio.gather(*(p for _, p in puts))
        for (unit, _), result in zip(puts, results, strict=True):
            if result.ok:
                done.append(unit)
                self.delivered += 1
            else:
                self._log.warning("timer re-put failed, retrying", status=result.status.name)
                self._relink_now(unit)
        self.timer_log.append(UnitMagic.DONE, done)
