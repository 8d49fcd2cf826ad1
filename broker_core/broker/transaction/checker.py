"""Transaction check-back (storage spec 6.4): ask producers about half messages nobody finished.

One asyncio task runs a check every ``transactionCheckInterval`` (or when :meth:`wake` is
called). A run walks the half queue from the ``CID_RMQ_SYS_TRANS`` offset, skipping offsets an op
message has finished. A half message older than its immunity (``transactionTimeOut``, or
``CHECK_IMMUNITY_TIME_IN_SECONDS``) is re-appended to the half queue with
``TRANSACTION_CHECK_TIMES`` + 1 and a CHECK_TRANSACTION_STATE for the *copy* goes one-way to one
live channel of its producer group (``PGROUP``); the producer answers with END_TRANSACTION for the
copy. After ``transactionCheckMax`` checks, or once older than ``fileReservedTime``, the message is
moved to ``TRANS_CHECK_MAX_TIME_TOPIC`` instead. Both consume offsets (half and op queue) are then
advanced past what is settled, so the next run starts where this one stopped.

Copies appended during a run are stored after the run started, which ends the walk: each run
checks a message at most once.
"""

from __future__ import annotations

import asyncio
import contextlib

from broker_core.broker.context import BrokerContext
from broker_core.broker.topics import TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC
from broker_core.broker.transaction.half import HALF_QUEUE_ID, TRANS_GROUP, copy_message, now_ms, read_half
from broker_core.broker.transaction.op import OpEntry, read_ops
from broker_core.errors import RemotingError
from broker_core.logsetup import get_logger
from broker_core.message.codec import encode_record
from broker_core.message.model import MessageExt
from broker_core.message.properties import MessageConst
from broker_core.message.sysflag import TransactionType, reset_transaction_value
from broker_core.remoting.codes import RequestCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.transaction import CheckTransactionStateRequestHeader
from broker_core.tasks import cancel_and_wait

__all__ = ["TransactionChecker"]

log = get_logger(__name__)

MAX_PROCESS_TIME_MS = 60_000


class TransactionChecker:
    def __init__(self, ctx: BrokerContext, file_reserved_hours: float) -> None:
        self.ctx = ctx
        self.file_reserved_ms = int(file_reserved_hours * 3600 * 1000)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        topics = self.ctx.topics
        for name in (TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC, TRANS_CHECK_MAX_TIME_TOPIC):
            topics.create_system_like(name, 1)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def wake(self) -> None:
        """Run a check now instead of at the end of the interval."""
        self._wakeup.set()

    async def _run(self) -> None:
        interval = self.ctx.config.transaction_check_interval / 1000
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), interval)
            self._wakeup.clear()
            try:
                await self.check()
            except Exception:
                log.exception("transaction check failed")

    # ------------------------------------------------------------------ one run

    def _consume_offset(self, topic: str) -> int:
        offset = self.ctx.offsets.query(TRANS_GROUP, topic, HALF_QUEUE_ID)
        return offset if offset >= 0 else self.ctx.store.get_min_offset_in_queue(topic, HALF_QUEUE_ID)

    async def check(self) -> None:
        """One pass over the half queue."""
        cfg = self.ctx.config
        timeout, check_max = cfg.transaction_time_out, cfg.transaction_check_max
        store = self.ctx.store
        start = now_ms()
        half_offset = self._consume_offset(TRANS_HALF_TOPIC)
        op_offset = self._consume_offset(TRANS_OP_HALF_TOPIC)
        remove: dict[int, int] = {}
        done: list[int] = []
        ops, next_op = self._fill(op_offset, half_offset, remove, done)
        i = half_offset
        while now_ms() - start < MAX_PROCESS_TIME_MS:
            if i in remove:
                done.append(remove.pop(i))
                i += 1
                continue
            msg = read_half(store, i)
            if msg is None:
                break
            if self._need_discard(msg, check_max) or now_ms() - msg.born_timestamp > self.file_reserved_ms:
                await self._discard(msg)
                i += 1
                continue
            if msg.store_timestamp >= start:
                break
            age = now_ms() - msg.born_timestamp
            immunity = timeout
            immunity_prop = msg.properties.get(MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS)
            if immunity_prop is not None:
                seconds = int(immunity_prop) if immunity_prop.lstrip("-").isdigit() else -1
                immunity = timeout if seconds == -1 else seconds * 1000
                if age < immunity:
                    if not self._settled_by_prepared_offset(msg, remove, done):
                        # keep the offset of the first half message across repeated copies
                        origin = msg.properties.get(MessageConst.TRAN_PREPARED_QUEUE_OFFSET, str(i))
                        await self._put_back(msg, {MessageConst.TRAN_PREPARED_QUEUE_OFFSET: origin})
                    i += 1
                    continue
            elif 0 <= age < immunity:
                break
            need_check = (
                (not ops and age > immunity)
                or (bool(ops) and ops[-1].born_timestamp - start > timeout)
                or age <= -1
            )
            if need_check:
                copy = await self._put_back(msg, {})
                if copy is not None:
                    self._send_check(copy)
                i += 1
            else:
                # not sure yet: read further op messages and look at offset i again
                ops, next_op = self._fill(next_op, half_offset, remove, done)
                if not ops and age <= immunity:
                    break
        if i != half_offset:
            self.ctx.offsets.commit(TRANS_GROUP, TRANS_HALF_TOPIC, HALF_QUEUE_ID, i)
        new_op = op_offset
        for offset in sorted(done):
            if offset == new_op:
                new_op += 1
            elif offset > new_op:
                break
        if new_op != op_offset:
            self.ctx.offsets.commit(TRANS_GROUP, TRANS_OP_HALF_TOPIC, HALF_QUEUE_ID, new_op)

    def _fill(
        self, op_offset: int, half_offset: int, remove: dict[int, int], done: list[int]
    ) -> tuple[list[OpEntry], int]:
        entries, next_offset = read_ops(self.ctx.store, op_offset)
        for e in entries:
            if e.half_offset < half_offset:
                done.append(e.op_offset)
            else:
                remove[e.half_offset] = e.op_offset
        return entries, next_offset

    @staticmethod
    def _need_discard(msg: MessageExt, check_max: int) -> bool:
        """True past the limit; otherwise counts this check in ``TRANSACTION_CHECK_TIMES``."""
        raw = msg.properties.get(MessageConst.TRANSACTION_CHECK_TIMES)
        times = int(raw) if raw and raw.isdigit() else 0
        if times >= check_max:
            return True
        msg.properties[MessageConst.TRANSACTION_CHECK_TIMES] = str(times + 1)
        return False

    @staticmethod
    def _settled_by_prepared_offset(msg: MessageExt, remove: dict[int, int], done: list[int]) -> bool:
        raw = msg.properties.get(MessageConst.TRAN_PREPARED_QUEUE_OFFSET)
        if raw is None or not raw.isdigit():
            return False
        op = remove.pop(int(raw), None)
        if op is None:
            return False
        done.append(op)
        return True

    async def _put_back(self, msg: MessageExt, extra: dict[str, str]) -> MessageExt | None:
        """Re-append ``msg`` to the half queue; the stored copy (with its new offsets) or None."""
        props = {**msg.properties, **extra}
        inner = copy_message(
            msg,
            self.ctx.store_host,
            topic=TRANS_HALF_TOPIC,
            queue_id=HALF_QUEUE_ID,
            properties=props,
            sys_flag=msg.sys_flag,
        )
        result = await self.ctx.store.put_message(inner)
        ar = result.append_result
        if not result.ok or ar is None:
            log.warning("re-appending half message failed", status=result.status.name)
            return None
        return MessageExt(
            topic=TRANS_HALF_TOPIC,
            queue_id=HALF_QUEUE_ID,
            queue_offset=ar.logics_offset,
            commit_log_offset=ar.wrote_offset,
            store_size=ar.wrote_bytes,
            body_crc=msg.body_crc,
            flag=msg.flag,
            sys_flag=msg.sys_flag,
            born_timestamp=msg.born_timestamp,
            born_host=msg.born_host,
            store_timestamp=ar.store_timestamp,
            store_host=self.ctx.store_host,
            reconsume_times=msg.reconsume_times,
            prepared_transaction_offset=0,
            body=msg.body,
            properties=props,
        )

    async def _discard(self, msg: MessageExt) -> None:
        inner = copy_message(
            msg,
            self.ctx.store_host,
            topic=TRANS_CHECK_MAX_TIME_TOPIC,
            queue_id=0,
            properties=msg.properties,
            sys_flag=reset_transaction_value(msg.sys_flag, TransactionType.NOT_TYPE),
        )
        result = await self.ctx.store.put_message(inner)
        log.info(
            "half message discarded after max checks",
            msg_id=msg.properties.get(MessageConst.UNIQ_KEY),
            status=result.status.name,
        )

    def _send_check(self, copy: MessageExt) -> None:
        group = copy.properties.get(MessageConst.PGROUP, "")
        channel = self.ctx.producers.any_channel(group)
        if channel is None:
            log.info("no producer online for transaction check", group=group)
            return
        uniq = copy.properties.get(MessageConst.UNIQ_KEY)
        header = CheckTransactionStateRequestHeader(
            tran_state_table_offset=copy.queue_offset,
            commit_log_offset=copy.commit_log_offset,
            msg_id=uniq,
            transaction_id=uniq,
            offset_msg_id=copy.offset_msg_id,
        )
        real = copy_message(
            copy,
            copy.store_host,
            topic=copy.properties.get(MessageConst.REAL_TOPIC, copy.topic),
            queue_id=int(copy.properties.get(MessageConst.REAL_QID, "0") or 0),
            properties=copy.properties,
            sys_flag=copy.sys_flag,
        )
        body = encode_record(real, copy.queue_offset, copy.commit_log_offset, copy.store_timestamp)
        request = RemotingCommand.request(
            RequestCode.CHECK_TRANSACTION_STATE, header.to_ext_fields(), body, oneway=True
        )
        try:
            channel.invoke_oneway(request)
        except RemotingError as exc:
            log.warning("sending transaction check failed", group=group, error=str(exc))
            return
        log.info("transaction check sent", group=group, msg_id=uniq, offset=copy.queue_offset)
