"""POP consumption (5.x): POP_MESSAGE, ACK_MESSAGE, CHANGE_MESSAGE_INVISIBLETIME.

The broker owns the consume position. A pop hands out messages under an invisible-time lease
(:mod:`broker_core.broker.pop.leases`); ack ends the lease; a lease that runs out is *revived*:
the message is copied to the group's pop retry topic ``%RETRY%<group>_<topic>`` (reconsume count +1,
``RETRY_TOPIC`` = the original topic; after ``retryMaxTimes`` to ``%DLQ%<group>``) and its original
offset counts as done, so it is re-delivered exactly once per expiry. One timer, armed for the
earliest lease deadline, starts the revive pass; a pop or an ack re-arms it only when it brings that
deadline forward. Pops serve the retry topic first.

The lease table is written to ``config/popLeases.json`` shortly after every change (by a worker
thread: the write and its fsync must not stall the loop) and at shutdown, and every change is
journaled before it is answered (:mod:`broker_core.broker.pop.journal`), so leases and acks survive
a restart, also a crash. A pop that finds nothing waits up to ``pollTime`` for an arrival on the
topic or its retry topic (POLLING_TIMEOUT when none comes; POLLING_FULL when too many pops are
already parked).

FIFO (``order=true`` in the pop header, as 5.x proxies send for a group with
``consumeMessageOrderly``): a queue with popped, un-acked messages is *locked* — no further pop gets
anything from it — until they are all acked; an expired lease is not revived to the retry topic
but rewinds the queue, so the same messages come again, in order, before anything after them.
The retry topic is not served to ordered pops.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from broker_core.broker.context import BrokerContext
from broker_core.broker.filtering.tags import tag_filter
from broker_core.broker.persist import ConfigFile
from broker_core.broker.pop import journal
from broker_core.broker.pop.leases import Key, LeaseError, LeaseTable
from broker_core.broker.topics import DLQ_GROUP_TOPIC_PREFIX
from broker_core.errors import MessageDecodeError
from broker_core.logsetup import get_logger
from broker_core.message.codec import decode_record
from broker_core.message.model import BrokerMessage
from broker_core.message.properties import MessageConst, encode_properties, tags_hash_code
from broker_core.remoting.body.heartbeat import SubscriptionData
from broker_core.remoting.body.topic_config import PERM_READ
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.errors_util import ignore_closed
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.pop import (
    NORMAL_MARK,
    RETRY_MARK,
    AckMessageRequestHeader,
    ChangeInvisibleTimeRequestHeader,
    PopMessageRequestHeader,
    ReceiptHandle,
    ReceiptHandleError,
    pop_retry_topic,
)
from broker_core.tasks import cancel_and_wait

log = get_logger(__name__)

#: 5.x response codes (4.9.8 used these numbers for ACL errors)
POLLING_FULL = 209
POLLING_TIMEOUT = 210


@dataclass(eq=False, slots=True)
class _Parked:
    request: RemotingCommand
    channel: Channel
    topics: tuple[str, ...]
    deadline: float
    timer: asyncio.TimerHandle | None = field(default=None)


def _now() -> int:
    return int(time.time() * 1000)


class PopService:
    def __init__(self, ctx: BrokerContext, store_root: Path) -> None:
        self.ctx = ctx
        self._file = ConfigFile(store_root / "config" / "popLeases.json")
        self.table = LeaseTable()
        self._journal = journal.LeaseJournal(store_root / "config" / "popLeases.journal")
        #: the revive timer: armed for the earliest lease deadline (wall-clock ms), and the pass
        #: it started while that pass runs
        self._revive_handle: asyncio.TimerHandle | None = None
        self._revive_due: int | None = None
        self._reviving: asyncio.Task[None] | None = None
        self._running = False
        self._persist_handle: asyncio.TimerHandle | None = None
        #: the snapshot write in flight (a worker thread), and whether the table changed since
        #: the last snapshot was taken
        self._saving: asyncio.Task[None] | None = None
        self._dirty = False
        self._parked: dict[str, list[_Parked]] = {}
        self._parked_count = 0
        self.revived = 0
        #: queues popped in FIFO order: their expired leases rewind instead of reviving
        self._order_keys: set[Key] = set()

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(RequestCode.POP_MESSAGE, self.pop)
        dispatcher.register(RequestCode.ACK_MESSAGE, self.ack)
        dispatcher.register(RequestCode.CHANGE_MESSAGE_INVISIBLETIME, self.change_invisible_time)

    # ------------------------------------------------------------------ lifecycle
    def drop_topic(self, topic: str) -> None:
        """The topic was deleted: forget its queues' positions and leases (a topic created again
        under the same name starts at offset 0)."""
        self.table.drop_topic(topic)
        self._journal.append(journal.drop_line(topic))
        self._touch()

    def start(self) -> None:
        table = self._file.load(LeaseTable.from_json_dict)
        if table is not None:
            self.table = table
        replayed = self._journal.replay(self.table)
        if replayed:
            log.info("POP journal replayed", changes=replayed)
            self._persist_now()  # empties the journal once the snapshot holds it
        else:
            self._journal.reset()
        self._running = True
        self._schedule_revive()

    async def stop(self) -> None:
        self._running = False
        if self._revive_handle is not None:
            self._revive_handle.cancel()
            self._revive_handle = None
        await cancel_and_wait(self._reviving)
        entries = {id(e): e for waiters in self._parked.values() for e in waiters}
        self._parked.clear()
        for entry in entries.values():
            if entry.timer is not None:
                entry.timer.cancel()
            self._answer_empty(entry.request, entry.channel, POLLING_TIMEOUT)
        saving = self._saving
        if saving is not None:  # the last snapshot must not overwrite the final one
            with contextlib.suppress(Exception):
                await saving
        self._persist_now()
        self._journal.close()

    def _touch(self) -> None:
        """A lease changed: re-arm the revive timer if needed and schedule a write of the table."""
        self._schedule_revive()
        self._dirty = True
        if self._persist_handle is None and self._saving is None:
            delay = self.ctx.config.pop_ck_persist_delay_ms / 1000
            self._persist_handle = asyncio.get_running_loop().call_later(delay, self._persist_soon)

    def _persist_soon(self) -> None:
        """Write a snapshot of the table in a worker thread: the file write and its fsync (ms,
        far more on a busy disk) must not stall the loop, which answers pops and sends meanwhile."""
        self._persist_handle = None
        self._dirty = False
        snapshot = self.table.to_json_dict()  # taken on the loop: consistent
        covered = self._journal.rotate()  # changes from now on go to the other journal file
        self._saving = asyncio.get_running_loop().create_task(
            self._save(snapshot, covered), name="pop-persist"
        )

    async def _save(self, snapshot: dict[str, object], covered: list[tuple[int, int]]) -> None:
        try:
            await asyncio.to_thread(self._file.save, snapshot)
            self._journal.release(covered)
        except OSError:
            log.exception("persisting POP leases failed")
        finally:
            self._saving = None
        if self._dirty and self._persist_handle is None:  # changed while it was written
            delay = self.ctx.config.pop_ck_persist_delay_ms / 1000
            self._persist_handle = asyncio.get_running_loop().call_later(delay, self._persist_soon)

    def _persist_now(self) -> None:
        """Write the table now, blocking (shutdown)."""
        if self._persist_handle is not None:
            self._persist_handle.cancel()
            self._persist_handle = None
        self._dirty = False
        try:
            self._file.save(self.table.to_json_dict())
            self._journal.reset()  # blocking: nothing was journaled meanwhile
        except OSError:
            log.exception("persisting POP leases failed")

    # ------------------------------------------------------------------ POP_MESSAGE
    def pop(self, request: RemotingCommand, channel: Channel) -> RemotingCommand | None:
        return self._pop(request, channel, park=True)

    def _pop(self, request: RemotingCommand, channel: Channel, *, park: bool) -> RemotingCommand | None:
        ctx = self.ctx
        try:
            h = PopMessageRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        if not ctx.config.broker_permission & PERM_READ:
            return request.make_response(ResponseCode.NO_PERMISSION, "the broker pop message is forbidden")
        if h.max_msg_nums <= 0 or h.max_msg_nums > 32 or h.invisible_time <= 0:
            return request.make_response(
                ResponseCode.INVALID_PARAMETER, "maxMsgNums must be 1..32 and invisibleTime positive"
            )
        gcfg = ctx.groups.find(h.consumer_group)
        if gcfg is None or not gcfg.consume_enable:
            return request.make_response(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group [{h.consumer_group}] not usable",
            )
        tc = ctx.topics.get(h.topic)
        if tc is None:
            return request.make_response(
                ResponseCode.TOPIC_NOT_EXIST, f"topic[{h.topic}] not exist, apply first please!"
            )
        if h.queue_id >= tc.read_queue_nums:
            return request.make_response(
                ResponseCode.INVALID_PARAMETER, f"queueId[{h.queue_id}] is illegal, topic {h.topic}"
            )
        if (h.exp_type or "TAG").upper() != "TAG":
            return request.make_response(ResponseCode.SYSTEM_ERROR, "POP supports TAG expressions only")
        flt = tag_filter(SubscriptionData.build(h.topic, h.exp or "*", 0, "TAG"))
        retry = pop_retry_topic(h.consumer_group, h.topic)
        order = bool(h.order)
        queues = ([] if order else [(retry, 0)]) + (
            [(h.topic, h.queue_id)]
            if h.queue_id >= 0
            else [(h.topic, (q + h.born_time) % tc.read_queue_nums) for q in range(tc.read_queue_nums)]
        )
        pop_time = _now()
        buffers: list[bytes | memoryview] = []
        start_info: list[str] = []
        msg_info: list[str] = []
        rest = 0
        for topic, qid in queues:
            want = h.max_msg_nums - len(buffers)
            is_retry = topic == retry
            mark = RETRY_MARK if is_retry else NORMAL_MARK
            key: Key = (h.consumer_group, topic, qid)
            q = self.table.get(key)
            if q is None:
                committed = ctx.offsets.query(h.consumer_group, topic, qid)
                if committed < 0:
                    store = ctx.store
                    committed = (
                        store.get_max_offset_in_queue(topic, qid)
                        if h.init_mode == 1 and not is_retry
                        else store.get_min_offset_in_queue(topic, qid)
                    )
                q = self.table.ensure(key, committed)
            max_offset = ctx.store.get_max_offset_in_queue(topic, qid)
            if order:
                self._order_keys.add(key)
                if q.leases:  # FIFO: locked until the messages in flight are acked
                    continue
            if want <= 0 or q.next_offset >= max_offset:
                rest += max(0, max_offset - q.next_offset)
                continue
            result = ctx.store.get_message(
                h.consumer_group, topic, qid, q.next_offset, want, None if is_retry else flt
            )
            if result.next_begin_offset > q.next_offset or result.message_buffers:
                start_info.append(f"{mark} {qid} {q.next_offset}")
                prev_next = q.next_offset
                for off in result.message_queue_offsets:
                    self.table.lease(key, off, pop_time, h.invisible_time)
                if result.message_queue_offsets:
                    msg_info.append(f"{mark} {qid} " + ",".join(map(str, result.message_queue_offsets)))
                q.next_offset = max(q.next_offset, result.next_begin_offset)
                self._journal.append(
                    journal.pop_line(
                        key,
                        prev_next,
                        q.next_offset,
                        pop_time,
                        h.invisible_time,
                        result.message_queue_offsets,
                    )
                )
                buffers.extend(result.message_buffers)
                ctx.offsets.commit(h.consumer_group, topic, qid, q.committed())
                self._touch()
            rest += max(0, result.max_offset - q.next_offset)
        if not buffers:
            if park and h.poll_time > 0:
                return self._park(request, channel, (h.topic, retry), h.poll_time)
            return request.make_response(POLLING_TIMEOUT, "no new message")
        ext = {
            "popTime": str(pop_time),
            "invisibleTime": str(h.invisible_time),
            "reviveQid": "0",
            "restNum": str(rest),
            "startOffsetInfo": ";".join(start_info),
            "msgOffsetInfo": ";".join(msg_info),
            "orderCountInfo": "",
        }
        return request.make_response(ResponseCode.SUCCESS, "FOUND", ext, b"".join(buffers))

    # ------------------------------------------------------------------ long polling
    def _park(
        self, request: RemotingCommand, channel: Channel, topics: tuple[str, ...], poll_ms: int
    ) -> RemotingCommand | None:
        if self._parked_count >= self.ctx.config.pop_polling_size:
            return request.make_response(POLLING_FULL, "too many pop requests are waiting")
        loop = asyncio.get_running_loop()
        entry = _Parked(request, channel, topics, loop.time() + poll_ms / 1000)
        for topic in topics:
            self._parked.setdefault(topic, []).append(entry)
        self._parked_count += 1
        entry.timer = loop.call_later(poll_ms / 1000, self._expire_parked, entry)
        return None

    def _unpark(self, entry: _Parked) -> bool:
        found = False
        for topic in entry.topics:
            waiters = self._parked.get(topic)
            if waiters and entry in waiters:
                waiters.remove(entry)
                found = True
                if not waiters:
                    del self._parked[topic]
        if found:
            self._parked_count -= 1
            if entry.timer is not None:
                entry.timer.cancel()
        return found

    def _expire_parked(self, entry: _Parked) -> None:
        if self._unpark(entry) and entry.channel.is_open:
            self._reply(entry.channel, self._pop(entry.request, entry.channel, park=False))

    def notify_arrival(self, topic: str) -> None:
        """Store arrival hook: re-run the pops parked on ``topic``."""
        waiters = self._parked.get(topic)
        if not waiters:
            return
        now = asyncio.get_running_loop().time()
        for entry in list(waiters):
            if not self._unpark(entry):
                continue
            if not entry.channel.is_open:
                continue  # the client is gone: leasing messages for it would hide them until they expire
            response = self._pop(entry.request, entry.channel, park=False)
            remaining_ms = int((entry.deadline - now) * 1000)
            if response is not None and response.code == POLLING_TIMEOUT and remaining_ms > 0:
                response = self._park(entry.request, entry.channel, entry.topics, remaining_ms)  # filtered
            self._reply(entry.channel, response)

    @staticmethod
    def _reply(channel: Channel, response: RemotingCommand | None) -> None:
        if response is not None and channel.is_open:
            with ignore_closed():
                channel.send_response(response)

    def _answer_empty(self, request: RemotingCommand, channel: Channel, code: int) -> None:
        self._reply(channel, request.make_response(code, "no new message"))

    # ------------------------------------------------------------------ ACK / CHANGE_INVISIBLETIME
    def _handle_key(
        self, request: RemotingCommand, group: str, topic: str, extra: str, offset: int
    ) -> tuple[Key, ReceiptHandle] | RemotingCommand:
        try:
            handle = ReceiptHandle.parse(extra)
        except ReceiptHandleError as exc:
            return request.make_response(ResponseCode.MESSAGE_ILLEGAL, str(exc))
        if handle.queue_offset != offset:
            return request.make_response(
                ResponseCode.MESSAGE_ILLEGAL, f"offset {offset} does not match the receipt handle"
            )
        if self.ctx.topics.get(topic) is None:
            return request.make_response(
                ResponseCode.TOPIC_NOT_EXIST, f"topic[{topic}] not exist, apply first please!"
            )
        return (group, handle.store_topic(group, topic), handle.queue_id), handle

    def ack(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = AckMessageRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.MESSAGE_ILLEGAL, str(exc))
        found = self._handle_key(request, h.consumer_group, h.topic, h.extra_info, h.offset)
        if isinstance(found, RemotingCommand):
            return found
        key, handle = found
        try:
            committed = self.table.ack(key, handle.queue_offset, handle.pop_time)
        except LeaseError as exc:
            return request.make_response(ResponseCode.NO_MESSAGE, str(exc))
        self._journal.append(journal.ack_line(key, handle.queue_offset, handle.pop_time))
        self.ctx.offsets.commit(key[0], key[1], key[2], committed)
        self._touch()
        if key in self._order_keys and committed == self.table.queues[key].next_offset:
            self.notify_arrival(key[1])  # the FIFO queue is unlocked: parked pops may take from it
        return request.make_response(ResponseCode.SUCCESS, None)

    def change_invisible_time(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = ChangeInvisibleTimeRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.MESSAGE_ILLEGAL, str(exc))
        if h.invisible_time < 0:
            return request.make_response(ResponseCode.INVALID_PARAMETER, "invisibleTime must not be negative")
        found = self._handle_key(request, h.consumer_group, h.topic, h.extra_info, h.offset)
        if isinstance(found, RemotingCommand):
            return found
        key, handle = found
        now = _now()
        try:
            self.table.change(key, handle.queue_offset, handle.pop_time, now, h.invisible_time)
        except LeaseError as exc:
            return request.make_response(ResponseCode.NO_MESSAGE, str(exc))
        self._journal.append(
            journal.change_line(key, handle.queue_offset, handle.pop_time, now, h.invisible_time)
        )
        self._touch()
        ext = {"popTime": str(now), "invisibleTime": str(h.invisible_time), "reviveQid": "0"}
        return request.make_response(ResponseCode.SUCCESS, None, ext)

    # ------------------------------------------------------------------ revive
    def _schedule_revive(self) -> None:
        """Arm the revive timer for the earliest live deadline, unless it is armed for an earlier one.

        Runs after every pop, ack and invisible-time change, so it must be cheap: a look at the top
        of the deadline heap and, only when a lease now expires before the armed time (an
        invisible-time change to 0, say), a new timer. A new lease (deadline = now + invisible
        time) or an ack (a deadline gone) leaves the timer alone; if it fires with nothing due, the
        pass finds nothing and arms the timer again.
        """
        if self._reviving is not None or not self._running:
            return  # the pass in progress arms the timer when it ends
        deadline = self.table.next_deadline()
        if deadline is None or (self._revive_due is not None and self._revive_due <= deadline):
            return
        if self._revive_handle is not None:
            self._revive_handle.cancel()
        self._revive_due = deadline
        delay = max(0.0, (deadline - _now()) / 1000)
        self._revive_handle = asyncio.get_running_loop().call_later(delay, self._revive_now)

    def _revive_now(self) -> None:
        self._revive_handle = None
        self._revive_due = None
        self._reviving = asyncio.get_running_loop().create_task(self._revive_pass(), name="pop-revive")

    async def _revive_pass(self) -> None:
        """Revive (or, for FIFO queues, rewind) every lease past its deadline."""
        try:
            expired = self.table.pop_expired(_now())
            rewound: set[str] = set()
            for key, offset, _lease in expired:
                q = self.table.get(key)
                if key in self._order_keys and q is not None:  # FIFO: deliver the same again, in order
                    q.next_offset = min(q.next_offset, offset)
                    self.ctx.offsets.commit(key[0], key[1], key[2], q.committed())
                    rewound.add(key[1])
                    continue
                try:
                    await self._revive(key, offset)
                except Exception:
                    log.exception(
                        "pop revive failed, retrying in 1 s", group=key[0], topic=key[1], offset=offset
                    )
                    self.table.lease(key, offset, _now(), 1000)
                q = self.table.get(key)
                if q is not None:
                    self.ctx.offsets.commit(key[0], key[1], key[2], q.committed())
            if expired:
                self._touch()
            for topic in rewound:
                self.notify_arrival(topic)
        finally:
            self._reviving = None
            self._schedule_revive()

    async def _revive(self, key: Key, offset: int) -> None:
        """Copy an expired message to the pop retry topic (or the DLQ past the retry limit)."""
        group, topic, qid = key
        result = self.ctx.store.get_message(group, topic, qid, offset, 1)
        if not result.message_buffers or result.message_queue_offsets[0] != offset:
            log.warning("expired pop message no longer in the store", topic=topic, offset=offset)
            return
        try:
            ext = decode_record(result.message_buffers[0])
        except MessageDecodeError:
            log.error("expired pop message undecodable", topic=topic, offset=offset)
            return
        props = dict(ext.properties)
        origin = props.setdefault(MessageConst.RETRY_TOPIC, topic)
        reconsume = ext.reconsume_times + 1
        gcfg = self.ctx.groups.find(group)
        max_times = gcfg.retry_max_times if gcfg is not None else 16
        dest = pop_retry_topic(group, origin)
        if reconsume > max_times:
            dest = DLQ_GROUP_TOPIC_PREFIX + group
        props.setdefault(MessageConst.ORIGIN_MESSAGE_ID, ext.msg_id)
        if self.ctx.topics.get(dest) is None:
            self.ctx.topics.create_system_like(dest, 1)
            self.ctx.on_topics_changed()
        msg = BrokerMessage(
            topic=dest, queue_id=0, body=ext.body, properties_str=encode_properties(props), flag=ext.flag,
            tags_code=tags_hash_code(props.get(MessageConst.TAGS)), sys_flag=ext.sys_flag,
            born_timestamp=ext.born_timestamp, born_host=ext.born_host, store_host=self.ctx.store_host,
            reconsume_times=reconsume,
        )  # fmt: skip
        put = await self.ctx.store.put_message(msg)
        if not put.ok:
            raise RuntimeError(f"revive put failed: {put.status.name}")
        self.revived += 1
