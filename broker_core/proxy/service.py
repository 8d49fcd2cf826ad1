"""``apache.rocketmq.v2.MessagingService`` on top of the cluster's remoting protocol.

Each RPC maps onto the broker requests a 4.x client would make (Apache's proxy does the same in
cluster mode):

| RPC                              | broker / NameServer request                              |
|----------------------------------|----------------------------------------------------------|
| QueryRoute, QueryAssignment      | GET_ROUTEINFO_BY_TOPIC (cached)                          |
| SendMessage                      | SEND_MESSAGE per message (half message for TRANSACTION)  |
| ReceiveMessage (server stream)   | POP_MESSAGE with long polling                            |
| AckMessage                       | ACK_MESSAGE per entry                                    |
| ChangeInvisibleDuration          | CHANGE_MESSAGE_INVISIBLETIME                             |
| ForwardMessageToDeadLetterQueue  | CONSUMER_SEND_MSG_BACK (delay level -1) + ACK_MESSAGE    |
| EndTransaction                   | END_TRANSACTION                                          |
| Telemetry (bidi stream)          | settings; CHECK_TRANSACTION_STATE pushed to the client   |
| Heartbeat, NotifyClientTermination | proxy-side session bookkeeping                         |

Expected failures are answered in the response ``Status`` with the v2 ``Code`` Apache returns;
gRPC status codes are left to transport problems (a malformed protobuf is rejected by gRPC
itself before it reaches this module).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import structlog

from broker_core.errors import RemotingError
from broker_core.message.codec import decode_records
from broker_core.message.msg_id import decode_offset_msg_id
from broker_core.message.names import validate_group
from broker_core.message.properties import MessageConst, encode_properties
from broker_core.proxy.auth import CURRENT, Authenticator
from broker_core.proxy.backend import Backend, CheckRequest, TopicNotFound
from broker_core.proxy.codes import code_of_response, status, summary_status
from broker_core.proxy.convert import PROXY_PRODUCER_GROUP, check_message, to_remoting, to_v2
from broker_core.proxy.handles import TransactionId, make_handle, parse_handle
from broker_core.proxy.sessions import MAX_BODY_SIZE, Sessions, answer_settings
from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.proxy.v2 import service_pb2 as spb
from broker_core.proxy.v2 import service_pb2_grpc as rpc
from broker_core.remoting.body.route import TopicRouteData
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
from broker_core.remoting.headers.send import SendMessageRequestHeader
from broker_core.remoting.headers.transaction import EndTransactionRequestHeader

log = structlog.get_logger(__name__)

__all__ = ["MessagingService"]

ALL_TYPES = (pb.NORMAL, pb.FIFO, pb.DELAY, pb.TRANSACTION)
MAX_BATCH = 32
MIN_INVISIBLE_MS = 1_000
MAX_INVISIBLE_MS = 12 * 3600 * 1000
DEFAULT_INVISIBLE_MS = 30_000
DEFAULT_POLL_MS = 20_000
#: END_TRANSACTION ``commitOrRollback`` values (MessageSysFlag transaction types)
_COMMIT, _ROLLBACK = 8, 12


def _duration_ms(d: Any) -> int:
    return int(d.seconds) * 1000 + int(d.nanos) // 1_000_000


def _client_id(context: Any) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-mq-client-id":
            return str(value)
    return ""


class MessagingService(rpc.MessagingServiceServicer):
    """The servicer; ``endpoint`` is what QueryRoute answers when the request names none."""

    def __init__(self, backend: Backend, endpoint: tuple[str, int]) -> None:
        self.backend = backend
        self.endpoint = endpoint
        self.sessions = Sessions()
        self._turn = itertools.count()
        backend.on_check = self._on_check
        #: set when the proxy checks credentials (``--acl-file``)
        self.authenticator: Authenticator | None = None

    def _refused(self, context: Any) -> pb.Status | None:
        """UNAUTHORIZED when credentials are required and wrong; else run the call as the caller."""
        if self.authenticator is None:
            return None
        who = self.authenticator.authenticate(context.invocation_metadata())
        if isinstance(who, str):
            return status(pb.UNAUTHORIZED, who)
        CURRENT.set(who)
        return None

    # ================================================================ routes
    def _endpoints(self, requested: pb.Endpoints) -> pb.Endpoints:
        if requested.addresses:
            return requested
        out = pb.Endpoints(scheme=pb.IPv4)
        out.addresses.add(host=self.endpoint[0], port=self.endpoint[1])
        return out

    async def _route(self, topic: str) -> TopicRouteData | pb.Status:
        try:
            return await self.backend.route(topic)
        except TopicNotFound:
            return status(pb.TOPIC_NOT_FOUND, f"topic {topic} not found")
        except RemotingError as exc:
            return status(pb.INTERNAL_SERVER_ERROR, f"name server unavailable: {exc}")

    async def QueryRoute(self, request: spb.QueryRouteRequest, context: Any) -> spb.QueryRouteResponse:
        if (refused := self._refused(context)) is not None:
            return spb.QueryRouteResponse(status=refused)
        topic = request.topic.name
        route = await self._route(topic)
        if isinstance(route, pb.Status):
            return spb.QueryRouteResponse(status=route)
        endpoints = self._endpoints(request.endpoints)
        resp = spb.QueryRouteResponse(status=status())
        for qd in sorted(route.queue_datas, key=lambda q: q.broker_name):
            if self.backend.broker_addr(qd.broker_name) is None:
                continue
            both = min(qd.read_queue_nums, qd.write_queue_nums)
            for qid in range(max(qd.read_queue_nums, qd.write_queue_nums)):
                if qid < both:
                    perm = (
                        pb.READ_WRITE if qd.readable and qd.writable else pb.READ if qd.readable else pb.WRITE
                    )
                elif qid < qd.read_queue_nums:
                    perm = pb.READ if qd.readable else pb.NONE
                else:
                    perm = pb.WRITE if qd.writable else pb.NONE
                mq = resp.message_queues.add(id=qid, permission=perm)
                mq.topic.CopyFrom(request.topic)
                mq.broker.name = qd.broker_name
                mq.broker.id = 0
                mq.broker.endpoints.CopyFrom(endpoints)
                mq.accept_message_types.extend(ALL_TYPES)
        return resp

    async def QueryAssignment(
        self, request: spb.QueryAssignmentRequest, context: Any
    ) -> spb.QueryAssignmentResponse:
        if (refused := self._refused(context)) is not None:
            return spb.QueryAssignmentResponse(status=refused)
        route = await self._route(request.topic.name)
        if isinstance(route, pb.Status):
            return spb.QueryAssignmentResponse(status=route)
        endpoints = self._endpoints(request.endpoints)
        resp = spb.QueryAssignmentResponse(status=status())
        for qd in sorted(route.queue_datas, key=lambda q: q.broker_name):
            if not qd.readable or self.backend.broker_addr(qd.broker_name) is None:
                continue
            mq = resp.assignments.add().message_queue
            mq.topic.CopyFrom(request.topic)
            mq.id = -1
            mq.permission = pb.READ_WRITE
            mq.broker.name = qd.broker_name
            mq.broker.endpoints.CopyFrom(endpoints)
            mq.accept_message_types.extend(ALL_TYPES)
        return resp

    async def Heartbeat(self, request: spb.HeartbeatRequest, context: Any) -> spb.HeartbeatResponse:
        if (refused := self._refused(context)) is not None:
            return spb.HeartbeatResponse(status=refused)
        if request.HasField("group") and validate_group(request.group.name) is not None:
            return spb.HeartbeatResponse(status=status(pb.ILLEGAL_CONSUMER_GROUP, "illegal group"))
        return spb.HeartbeatResponse(status=status())

    async def NotifyClientTermination(
        self, request: spb.NotifyClientTerminationRequest, context: Any
    ) -> spb.NotifyClientTerminationResponse:
        if (refused := self._refused(context)) is not None:
            return spb.NotifyClientTerminationResponse(status=refused)
        self.sessions.terminate(_client_id(context))
        return spb.NotifyClientTerminationResponse(status=status())

    # ================================================================ sending
    def _write_queue(self, route: TopicRouteData, group: str | None) -> tuple[str, str, int] | None:
        queues = [
            (qd.broker_name, addr, qid)
            for qd in sorted(route.queue_datas, key=lambda q: q.broker_name)
            if qd.writable and (addr := self.backend.broker_addr(qd.broker_name)) is not None
            for qid in range(qd.write_queue_nums)
        ]
        if not queues:
            return None
        if group is not None:  # one group -> one queue, so the broker keeps the group's order
            return queues[zlib.crc32(group.encode("utf-8")) % len(queues)]
        return queues[next(self._turn) % len(queues)]

    async def _send_one(self, msg: pb.Message) -> spb.SendResultEntry:
        entry = spb.SendResultEntry(message_id=msg.system_properties.message_id)
        problem = check_message(msg, MAX_BODY_SIZE)
        if problem is not None:
            entry.status.CopyFrom(status(problem.code, problem.message))
            return entry
        rm = to_remoting(msg)
        route = await self._route(rm.topic)
        if isinstance(route, pb.Status):
            entry.status.CopyFrom(route)
            return entry
        group = rm.properties.get(MessageConst.SHARDING_KEY)
        target = self._write_queue(route, group)
        if target is None:
            entry.status.CopyFrom(status(pb.FORBIDDEN, f"topic {rm.topic} has no writable queue"))
            return entry
        broker_name, addr, qid = target
        header = SendMessageRequestHeader(
            producer_group=PROXY_PRODUCER_GROUP, topic=rm.topic, default_topic="TBW102",
            default_topic_queue_nums=4, queue_id=qid, sys_flag=rm.sys_flag,
            born_timestamp=rm.born_timestamp, flag=0, properties=encode_properties(rm.properties),
            reconsume_times=0, unit_mode=False, batch=False, bname=broker_name,
        )  # fmt: skip
        try:
            resp = await self.backend.invoke(addr, RequestCode.SEND_MESSAGE, header.to_ext_fields(), rm.body)
        except RemotingError as exc:
            entry.status.CopyFrom(status(pb.PROXY_TIMEOUT, f"broker {broker_name}: {exc}"))
            return entry
        if resp.code != ResponseCode.SUCCESS:
            code = code_of_response(resp.code)
            if resp.code == ResponseCode.MESSAGE_ILLEGAL and "body" in (resp.remark or "").lower():
                code = pb.MESSAGE_BODY_TOO_LARGE
            entry.status.CopyFrom(status(code, resp.remark or f"broker answered {resp.code}"))
            return entry
        ext = resp.ext_fields or {}
        entry.status.CopyFrom(status())
        entry.offset = int(ext.get("queueOffset", "0"))
        if msg.system_properties.message_type == pb.TRANSACTION:
            offset_msg_id = ext.get("msgId", "")
            try:
                _, clog = decode_offset_msg_id(offset_msg_id)
            except ValueError:
                entry.status.CopyFrom(status(pb.INTERNAL_SERVER_ERROR, f"bad msgId {offset_msg_id!r}"))
                return entry
            txid = TransactionId(clog, entry.offset, offset_msg_id, broker_name)
            entry.transaction_id = txid.encode()
        return entry

    async def SendMessage(self, request: spb.SendMessageRequest, context: Any) -> spb.SendMessageResponse:
        if (refused := self._refused(context)) is not None:
            return spb.SendMessageResponse(status=refused)
        if not request.messages:
            return spb.SendMessageResponse(status=status(pb.BAD_REQUEST, "no message"))
        if len({m.topic.name for m in request.messages}) > 1:
            return spb.SendMessageResponse(status=status(pb.BAD_REQUEST, "messages of several topics"))
        entries = [await self._send_one(m) for m in request.messages]
        resp = spb.SendMessageResponse(status=summary_status([e.status for e in entries]))
        resp.entries.extend(entries)
        return resp

    async def EndTransaction(
        self, request: spb.EndTransactionRequest, context: Any
    ) -> spb.EndTransactionResponse:
        if (refused := self._refused(context)) is not None:
            return spb.EndTransactionResponse(status=refused)
        try:
            txid = TransactionId.parse(request.transaction_id)
        except ValueError as exc:
            return spb.EndTransactionResponse(status=status(pb.INVALID_TRANSACTION_ID, str(exc)))
        if request.resolution == pb.TRANSACTION_RESOLUTION_UNSPECIFIED:
            return spb.EndTransactionResponse(status=status())
        addr = await self.backend.addr_of(txid.broker_name, request.topic.name)
        if addr is None:
            return spb.EndTransactionResponse(status=status(pb.INVALID_TRANSACTION_ID, "unknown broker"))
        header = EndTransactionRequestHeader(
            producer_group=PROXY_PRODUCER_GROUP,
            tran_state_table_offset=txid.tran_state_table_offset,
            commit_log_offset=txid.commit_log_offset,
            commit_or_rollback=_COMMIT if request.resolution == pb.COMMIT else _ROLLBACK,
            msg_id=request.message_id,
            from_transaction_check=request.source == pb.SOURCE_SERVER_CHECK,
            transaction_id=request.transaction_id,
            bname=txid.broker_name,
        )
        try:
            resp = await self.backend.invoke(addr, RequestCode.END_TRANSACTION, header.to_ext_fields())
        except RemotingError as exc:
            return spb.EndTransactionResponse(status=status(pb.PROXY_TIMEOUT, str(exc)))
        if resp.code != ResponseCode.SUCCESS:
            return spb.EndTransactionResponse(
                status=status(pb.INVALID_TRANSACTION_ID, resp.remark or "end transaction failed")
            )
        return spb.EndTransactionResponse(status=status())

    def _on_check(self, check: CheckRequest) -> None:
        msg = check.message
        topic = msg.properties.get(MessageConst.REAL_TOPIC, msg.topic)
        session = self.sessions.producer_of(topic)
        if session is None:
            log.info("transaction check-back with no producer connected", topic=topic)
            return
        h = check.header
        txid = TransactionId(
            h.commit_log_offset, h.tran_state_table_offset, h.offset_msg_id or "", check.broker_name
        )
        v2 = to_v2(msg)
        v2.topic.name = topic
        v2.system_properties.message_type = pb.TRANSACTION
        command = spb.TelemetryCommand()
        command.recover_orphaned_transaction_command.message.CopyFrom(v2)
        command.recover_orphaned_transaction_command.transaction_id = txid.encode()
        session.push(command)

    # ================================================================ consuming
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
            _duration_ms(request.invisible_duration)
            if request.HasField("invisible_duration")
            else DEFAULT_INVISIBLE_MS
        )
        if not MIN_INVISIBLE_MS <= invisible <= MAX_INVISIBLE_MS:
            return status(pb.ILLEGAL_INVISIBLE_TIME, f"invisible duration {invisible} ms out of range")
        poll = (
            _duration_ms(request.long_polling_timeout)
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
            order=group in await self.backend.orderly_groups(addr),
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
        invisible = _duration_ms(request.invisible_duration)
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

    # ================================================================ telemetry
    async def _fifo_groups(self) -> frozenset[str]:
        groups: set[str] = set()
        for addr in self.backend.known_brokers():
            groups |= await self.backend.orderly_groups(addr)
        return frozenset(groups)

    async def Telemetry(
        self, request_iterator: AsyncIterator[spb.TelemetryCommand], context: Any
    ) -> AsyncIterator[spb.TelemetryCommand]:
        if (refused := self._refused(context)) is not None:
            yield spb.TelemetryCommand(status=refused)
            return
        session = self.sessions.open(_client_id(context))

        async def read() -> None:
            try:
                async for command in request_iterator:
                    if command.HasField("settings"):
                        session.settings = command.settings
                        answer = spb.TelemetryCommand(status=status())
                        answer.settings.CopyFrom(answer_settings(command.settings, await self._fifo_groups()))
                        session.push(answer)
                    # thread stack traces / verify results are answers to commands we never send
            except Exception as exc:  # the client went away mid-stream
                log.debug("telemetry stream ended", client_id=session.client_id, error=str(exc))
            finally:
                session.close()

        reader = asyncio.get_running_loop().create_task(read())
        try:
            while (command := await session.outbox.get()) is not None:
                yield command
        finally:
            reader.cancel()
            self.sessions.discard(session)
