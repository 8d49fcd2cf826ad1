"""POP consumption RPCs: ReceiveMessage (server stream), AckMessage, ChangeInvisibleDuration,
ForwardMessageToDeadLetterQueue.

ReceiveMessage pops from one broker of the topic (queue -1: all its queues) with long polling
clipped to the call's deadline, in FIFO order for a group with ``consumeMessageOrderly``. The
receipt handle given to the client is the broker's plus the message's commit-log offset
(:mod:`broker_core.proxy.handles`), so no proxy-side state is needed to ack, change or forward it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from broker_core.errors import RemotingError
from broker_core.message.codec import decode_records
from broker_core.message.names import validate_group
from broker_core.proxy.base import ServiceBase, duration_ms
from broker_core.proxy.codes import code_of_response, status, summary_status
from broker_core.proxy.convert import to_v2
from broker_core.proxy.handles import make_handle, parse_handle
from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.proxy.v2 import service_pb2 as spb
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.headers.client import ConsumerSendMsgBackRequestHeader
from broker_core.remoting.headers.pop import (
    NORMAL_MARK,
    RETRY_MARK,
    RETRY_PREFIX,
    AckMessageRequestHeader,
    ChangeInvisibleTimeRequestHeader,
    PopMessageRequestHeader,
    ReceiptHandle,
    ReceiptHandleError,
)

__all__ = ["ConsumingOps"]

MAX_BATCH = 32
MIN_INVISIBLE_MS = 1_000
MAX_INVISIBLE_MS = 12 * 3600 * 1000
DEFAULT_INVISIBLE_MS = 30_000
DEFAULT_POLL_MS = 20_000


class ConsumingOps(ServiceBase):
    async def ReceiveMessage(
        self, request: spb.ReceiveMessageRequest, context: Any
    ) -> AsyncIterator[spb.ReceiveMessageResponse]:
        if (refused := self._refused(context)) is not None:
            yield spb.ReceiveMessageResponse(status=refused)
            return
        outcome = await self._receive(request, context)
        if isinstance(outcome, pb.Status):
            yield spb.ReceiveMessageResponse(status=outcome)
            return
        yield spb.ReceiveMessageResponse(status=status())
        now = spb.ReceiveMessageResponse()
        now.delivery_timestamp.GetCurrentTime()  # clients measure delivery latency from it
        yield now
        for message in outcome:
            yield spb.ReceiveMessageResponse(message=message)

    async def _receive(
        self, request: spb.ReceiveMessageRequest, context: Any
    ) -> list[pb.Message] | pb.Status:
        group = request.group.name
        if validate_group(group) is not None:
            return status(pb.ILLEGAL_CONSUMER_GROUP, f"illegal consumer group {group!r}")
        topic = request.message_queue.topic.name
        if not 0 < request.batch_size <= MAX_BATCH:
            return status(pb.BAD_REQUEST, f"batch size must be 1..{MAX_BATCH}")
        invisible = (
            duration_ms(request.invisible_duration)
            if request.HasField("invisible_duration")
            else DEFAULT_INVISIBLE_MS
        )
        if not MIN_INVISIBLE_MS <= invisible <= MAX_INVISIBLE_MS:
            return status(pb.ILLEGAL_INVISIBLE_TIME, f"invisible duration {invisible} ms out of range")
        poll = (
            duration_ms(request.long_polling_timeout)
            if request.HasField("long_polling_timeout")
            else DEFAULT_POLL_MS
        )
        remaining = context.time_remaining()
        if remaining is not None:  # answer before the client's deadline
            poll = min(poll, max(int((remaining - 1.0) * 1000), 0))
        route = await self._route(topic)
        if isinstance(route, pb.Status):
            return route
        names = [
            qd.broker_name
            for qd in sorted(route.queue_datas, key=lambda q: q.broker_name)
            if qd.readable and self.backend.broker_addr(qd.broker_name) is not None
        ]
        if not names:
            return status(pb.FORBIDDEN, f"topic {topic} has no readable queue")
        wanted = request.message_queue.broker.name
        name = wanted if wanted in names else names[next(self._turn) % len(names)]
        addr = self.backend.broker_addr(name)
        assert addr is not None
        fe = request.filter_expression
        header = PopMessageRequestHeader(
            consumer_group=group, topic=topic, queue_id=-1, max_msg_nums=request.batch_size,
            invisible_time=invisible, poll_time=poll, born_time=int(time.time() * 1000), init_mode=0,
            exp_type="SQL92" if fe.type == pb.SQL else "TAG", exp=fe.expression or "*",
            order=group in await self.backend.orderly_groups(addr, group),
        )  # fmt: skip
        if request.HasField("attempt_id"):
            header.attempt_id = request.attempt_id
        try:
            resp = await self.backend.invoke(
                addr, RequestCode.POP_MESSAGE, header.to_ext_fields(), timeout=poll / 1000 + 5.0
            )
        except RemotingError as exc:
            return status(pb.PROXY_TIMEOUT, f"broker {name}: {exc}")
        if resp.code != ResponseCode.SUCCESS:
            return status(code_of_response(resp.code), resp.remark or "no new message")
        ext = resp.ext_fields or {}
        pop_time, invisible_time = int(ext["popTime"]), int(ext["invisibleTime"])
        revive_qid = int(ext.get("reviveQid", "0"))
        starts: dict[tuple[str, int], int] = {}
        for item in filter(None, ext.get("startOffsetInfo", "").split(";")):
            mark, qid, start = item.split(" ")
            starts[(mark, int(qid))] = int(start)
        out: list[pb.Message] = []
        for msg in decode_records(resp.body or b"", decompress=True):
            mark = RETRY_MARK if msg.topic.startswith(RETRY_PREFIX) else NORMAL_MARK
            handle = ReceiptHandle(
                starts.get((mark, msg.queue_id), msg.queue_offset), pop_time, invisible_time, revive_qid,
                mark, name, msg.queue_id, msg.queue_offset,
            ).encode()  # fmt: skip
            out.append(
                to_v2(
                    msg,
                    receipt_handle=make_handle(handle, msg.commit_log_offset),
                    invisible_ms=invisible_time,
                )
            )
        if not out:
            return status(pb.MESSAGE_NOT_FOUND, "no new message")
        return out

    async def _ack_one(self, group: str, topic: str, entry: spb.AckMessageEntry) -> spb.AckMessageResultEntry:
        out = spb.AckMessageResultEntry(message_id=entry.message_id, receipt_handle=entry.receipt_handle)
        try:
            handle = parse_handle(entry.receipt_handle)
        except ReceiptHandleError as exc:
            out.status.CopyFrom(status(pb.INVALID_RECEIPT_HANDLE, str(exc)))
            return out
        addr = await self.backend.addr_of(handle.broker.broker_name, topic)
        if addr is None:
            out.status.CopyFrom(status(pb.INVALID_RECEIPT_HANDLE, "unknown broker"))
            return out
        header = AckMessageRequestHeader(
            group, topic, handle.broker.queue_id, handle.broker_text, handle.broker.queue_offset
        )
        try:
            resp = await self.backend.invoke(addr, RequestCode.ACK_MESSAGE, header.to_ext_fields())
        except RemotingError as exc:
            out.status.CopyFrom(status(pb.PROXY_TIMEOUT, str(exc)))
            return out
        if resp.code == ResponseCode.SUCCESS:
            out.status.CopyFrom(status())
        elif resp.code == ResponseCode.NO_MESSAGE:
            out.status.CopyFrom(status(pb.INVALID_RECEIPT_HANDLE, resp.remark or "receipt handle expired"))
        else:
            out.status.CopyFrom(status(code_of_response(resp.code), resp.remark or "ack failed"))
        return out

    async def AckMessage(self, request: spb.AckMessageRequest, context: Any) -> spb.AckMessageResponse:
        if (refused := self._refused(context)) is not None:
            return spb.AckMessageResponse(status=refused)
        group, topic = request.group.name, request.topic.name
        if validate_group(group) is not None:
            return spb.AckMessageResponse(status=status(pb.ILLEGAL_CONSUMER_GROUP, "illegal group"))
        if not request.entries:
            return spb.AckMessageResponse(status=status(pb.BAD_REQUEST, "no entry"))
        entries = await asyncio.gather(*(self._ack_one(group, topic, e) for e in request.entries))
        resp = spb.AckMessageResponse(status=summary_status([e.status for e in entries]))
        resp.entries.extend(entries)
        return resp

    async def ChangeInvisibleDuration(
        self, request: spb.ChangeInvisibleDurationRequest, context: Any
    ) -> spb.ChangeInvisibleDurationResponse:
        if (refused := self._refused(context)) is not None:
            return spb.ChangeInvisibleDurationResponse(status=refused)
        group, topic = request.group.name, request.topic.name
        invisible = duration_ms(request.invisible_duration)
        if not MIN_INVISIBLE_MS <= invisible <= MAX_INVISIBLE_MS:
            return spb.ChangeInvisibleDurationResponse(
                status=status(pb.ILLEGAL_INVISIBLE_TIME, f"invisible duration {invisible} ms out of range")
            )
        try:
            handle = parse_handle(request.receipt_handle)
        except ReceiptHandleError as exc:
            return spb.ChangeInvisibleDurationResponse(status=status(pb.INVALID_RECEIPT_HANDLE, str(exc)))
        addr = await self.backend.addr_of(handle.broker.broker_name, topic)
        if addr is None:
            return spb.ChangeInvisibleDurationResponse(
                status=status(pb.INVALID_RECEIPT_HANDLE, "unknown broker")
            )
        header = ChangeInvisibleTimeRequestHeader(
            group, topic, handle.broker.queue_id, handle.broker_text, handle.broker.queue_offset, invisible
        )
        try:
            resp = await self.backend.invoke(
                addr, RequestCode.CHANGE_MESSAGE_INVISIBLETIME, header.to_ext_fields()
            )
        except RemotingError as exc:
            return spb.ChangeInvisibleDurationResponse(status=status(pb.PROXY_TIMEOUT, str(exc)))
        if resp.code != ResponseCode.SUCCESS:
            code = (
                pb.INVALID_RECEIPT_HANDLE
                if resp.code == ResponseCode.NO_MESSAGE
                else code_of_response(resp.code)
            )
            return spb.ChangeInvisibleDurationResponse(status=status(code, resp.remark or "failed"))
        ext = resp.ext_fields or {}
        new = ReceiptHandle(
            handle.broker.ck_queue_offset, int(ext["popTime"]), int(ext["invisibleTime"]),
            int(ext.get("reviveQid", handle.broker.revive_qid)), handle.broker.retry_mark,
            handle.broker.broker_name, handle.broker.queue_id, handle.broker.queue_offset,
        )  # fmt: skip
        return spb.ChangeInvisibleDurationResponse(
            status=status(), receipt_handle=make_handle(new.encode(), handle.commit_log_offset)
        )

    async def ForwardMessageToDeadLetterQueue(
        self, request: spb.ForwardMessageToDeadLetterQueueRequest, context: Any
    ) -> spb.ForwardMessageToDeadLetterQueueResponse:
        if (refused := self._refused(context)) is not None:
            return spb.ForwardMessageToDeadLetterQueueResponse(status=refused)
        group, topic = request.group.name, request.topic.name
        try:
            handle = parse_handle(request.receipt_handle)
        except ReceiptHandleError as exc:
            return spb.ForwardMessageToDeadLetterQueueResponse(
                status=status(pb.INVALID_RECEIPT_HANDLE, str(exc))
            )
        addr = await self.backend.addr_of(handle.broker.broker_name, topic)
        if addr is None:
            return spb.ForwardMessageToDeadLetterQueueResponse(
                status=status(pb.INVALID_RECEIPT_HANDLE, "unknown broker")
            )
        header = ConsumerSendMsgBackRequestHeader(
            offset=handle.commit_log_offset, group=group, delay_level=-1, origin_msg_id=request.message_id,
            origin_topic=topic, max_reconsume_times=request.max_delivery_attempts,
            bname=handle.broker.broker_name,
        )  # fmt: skip
        try:
            resp = await self.backend.invoke(addr, RequestCode.CONSUMER_SEND_MSG_BACK, header.to_ext_fields())
            if resp.code == ResponseCode.SUCCESS:
                ack = AckMessageRequestHeader(
                    group, topic, handle.broker.queue_id, handle.broker_text, handle.broker.queue_offset
                )
                await self.backend.invoke(addr, RequestCode.ACK_MESSAGE, ack.to_ext_fields())
        except RemotingError as exc:
            return spb.ForwardMessageToDeadLetterQueueResponse(status=status(pb.PROXY_TIMEOUT, str(exc)))
        if resp.code != ResponseCode.SUCCESS:
            return spb.ForwardMessageToDeadLetterQueueResponse(
                status=status(code_of_response(resp.code), resp.remark or "forward failed")
            )
        return spb.ForwardMessageToDeadLetterQueueResponse(status=status())
