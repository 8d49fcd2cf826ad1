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
import zlib
from collections.abc import AsyncIterator
from typing import Any

import structlog

from broker_core.errors import RemotingError
from broker_core.message.msg_id import decode_offset_msg_id
from broker_core.message.names import validate_group
from broker_core.message.properties import MessageConst, encode_properties
from broker_core.proxy.backend import Backend, CheckRequest
from broker_core.proxy.base import ALL_TYPES, client_id
from broker_core.proxy.codes import code_of_response, status, summary_status
from broker_core.proxy.consuming import ConsumingOps
from broker_core.proxy.convert import PROXY_PRODUCER_GROUP, check_message, to_remoting, to_v2
from broker_core.proxy.handles import TransactionId
from broker_core.proxy.pulling import PullingOps
from broker_core.proxy.sessions import MAX_BODY_SIZE, answer_settings
from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.proxy.v2 import service_pb2 as spb
from broker_core.proxy.v2 import service_pb2_grpc as rpc
from broker_core.remoting.body.route import TopicRouteData
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.headers.send import SendMessageRequestHeader
from broker_core.remoting.headers.transaction import EndTransactionRequestHeader

log = structlog.get_logger(__name__)

__all__ = ["MessagingService"]

#: END_TRANSACTION ``commitOrRollback`` values (MessageSysFlag transaction types)
_COMMIT, _ROLLBACK = 8, 12


class MessagingService(ConsumingOps, PullingOps, rpc.MessagingServiceServicer):
    """The servicer; ``endpoint`` is what QueryRoute answers when the request names none."""

    def __init__(self, backend: Backend, endpoint: tuple[str, int]) -> None:
        super().__init__(backend, endpoint)
        backend.on_check = self._on_check

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
        self.sessions.terminate(client_id(context))
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
        session = self.sessions.open(client_id(context))

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
