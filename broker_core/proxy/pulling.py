"""Offset and pull RPCs for 5.x pull consumers: GetOffset, UpdateOffset, QueryOffset, PullMessage.

The client names the queue (broker name + queue id from QueryRoute) and owns the position:

| RPC          | remoting                                                              |
|--------------|-----------------------------------------------------------------------|
| GetOffset    | QUERY_CONSUMER_OFFSET (OFFSET_NOT_FOUND when the group has none)      |
| UpdateOffset | UPDATE_CONSUMER_OFFSET                                                |
| QueryOffset  | GET_MIN_OFFSET / GET_MAX_OFFSET / SEARCH_OFFSET_BY_TIMESTAMP          |
| PullMessage  | PULL_MESSAGE (long polling); streams status, messages, next_offset    |
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from broker_core.errors import RemotingError
from broker_core.message.codec import decode_records
from broker_core.message.names import validate_group
from broker_core.proxy.base import ServiceBase, duration_ms
from broker_core.proxy.codes import code_of_response, status
from broker_core.proxy.convert import to_v2
from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.proxy.v2 import service_pb2 as spb
from broker_core.remoting.body.heartbeat import SubscriptionData
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.offset import (
    QueryConsumerOffsetRequestHeader,
    QueueRequestHeader,
    SearchOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)
from broker_core.remoting.headers.pull import PullMessageRequestHeader, PullSysFlag

__all__ = ["PullingOps"]

MAX_PULL_BATCH = 32


class PullingOps(ServiceBase):
    async def _queue_addr(self, mq: pb.MessageQueue) -> str | pb.Status:
        if mq.id < 0:
            return status(pb.BAD_REQUEST, "a queue id is required")
        addr = await self.backend.addr_of(mq.broker.name, mq.topic.name)
        if addr is None:
            route = await self._route(mq.topic.name)
            return (
                route if isinstance(route, pb.Status) else status(pb.NOT_FOUND, f"no broker {mq.broker.name}")
            )
        return addr

    async def _call(
        self, addr: str, code: int, ext: dict[str, str], timeout: float | None = None
    ) -> RemotingCommand | pb.Status:
        try:
            return await self.backend.invoke(addr, code, ext, timeout=timeout)
        except RemotingError as exc:
            return status(pb.PROXY_TIMEOUT, str(exc))

    async def GetOffset(self, request: spb.GetOffsetRequest, context: Any) -> spb.GetOffsetResponse:
        if (refused := self._refused(context)) is not None:
            return spb.GetOffsetResponse(status=refused)
        mq = request.message_queue
        addr = await self._queue_addr(mq)
        if isinstance(addr, pb.Status):
            return spb.GetOffsetResponse(status=addr)
        header = QueryConsumerOffsetRequestHeader(request.group.name, mq.topic.name, mq.id)
        resp = await self._call(addr, RequestCode.QUERY_CONSUMER_OFFSET, header.to_ext_fields())
        if isinstance(resp, pb.Status):
            return spb.GetOffsetResponse(status=resp)
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return spb.GetOffsetResponse(status=status(pb.OFFSET_NOT_FOUND, resp.remark or "no offset"))
        if resp.code != ResponseCode.SUCCESS:
            return spb.GetOffsetResponse(status=status(code_of_response(resp.code), resp.remark or ""))
        return spb.GetOffsetResponse(status=status(), offset=int((resp.ext_fields or {}).get("offset", "-1")))

    async def UpdateOffset(self, request: spb.UpdateOffsetRequest, context: Any) -> spb.UpdateOffsetResponse:
        if (refused := self._refused(context)) is not None:
            return spb.UpdateOffsetResponse(status=refused)
        if validate_group(request.group.name) is not None:
            return spb.UpdateOffsetResponse(status=status(pb.ILLEGAL_CONSUMER_GROUP, "illegal group"))
        if request.offset < 0:
            return spb.UpdateOffsetResponse(status=status(pb.ILLEGAL_OFFSET, "negative offset"))
        mq = request.message_queue
        addr = await self._queue_addr(mq)
        if isinstance(addr, pb.Status):
            return spb.UpdateOffsetResponse(status=addr)
        header = UpdateConsumerOffsetRequestHeader(request.group.name, mq.topic.name, mq.id, request.offset)
        resp = await self._call(addr, RequestCode.UPDATE_CONSUMER_OFFSET, header.to_ext_fields())
        if isinstance(resp, pb.Status):
            return spb.UpdateOffsetResponse(status=resp)
        if resp.code != ResponseCode.SUCCESS:
            return spb.UpdateOffsetResponse(status=status(code_of_response(resp.code), resp.remark or ""))
        return spb.UpdateOffsetResponse(status=status())

    async def QueryOffset(self, request: spb.QueryOffsetRequest, context: Any) -> spb.QueryOffsetResponse:
        if (refused := self._refused(context)) is not None:
            return spb.QueryOffsetResponse(status=refused)
        mq = request.message_queue
        addr = await self._queue_addr(mq)
        if isinstance(addr, pb.Status):
            return spb.QueryOffsetResponse(status=addr)
        policy = request.query_offset_policy
        if policy == pb.TIMESTAMP:
            at = request.timestamp.seconds * 1000 + request.timestamp.nanos // 1_000_000
            code, ext = (
                RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
                SearchOffsetRequestHeader(mq.topic.name, mq.id, at).to_ext_fields(),
            )
        else:
            code = RequestCode.GET_MIN_OFFSET if policy == pb.BEGINNING else RequestCode.GET_MAX_OFFSET
            ext = QueueRequestHeader(topic=mq.topic.name, queue_id=mq.id).to_ext_fields()
        resp = await self._call(addr, code, ext)
        if isinstance(resp, pb.Status):
            return spb.QueryOffsetResponse(status=resp)
        if resp.code != ResponseCode.SUCCESS:
            return spb.QueryOffsetResponse(status=status(code_of_response(resp.code), resp.remark or ""))
        return spb.QueryOffsetResponse(
            status=status(), offset=int((resp.ext_fields or {}).get("offset", "0"))
        )

    async def PullMessage(
        self, request: spb.PullMessageRequest, context: Any
    ) -> AsyncIterator[spb.PullMessageResponse]:
        if (refused := self._refused(context)) is not None:
            yield spb.PullMessageResponse(status=refused)
            return
        mq = request.message_queue
        if not 0 < request.batch_size <= MAX_PULL_BATCH or request.offset < 0:
            yield spb.PullMessageResponse(
                status=status(pb.BAD_REQUEST, f"batch 1..{MAX_PULL_BATCH}, offset >= 0")
            )
            return
        addr = await self._queue_addr(mq)
        if isinstance(addr, pb.Status):
            yield spb.PullMessageResponse(status=addr)
            return
        poll = duration_ms(request.long_polling_timeout)
        remaining = context.time_remaining()
        if remaining is not None:
            poll = min(poll, max(int((remaining - 1.0) * 1000), 0))
        fe = request.filter_expression
        expr_type = "SQL92" if fe.type == pb.SQL else "TAG"
        sub = SubscriptionData.build(mq.topic.name, fe.expression or "*", 0, expr_type)
        header = PullMessageRequestHeader(
            consumer_group=request.group.name, topic=mq.topic.name, queue_id=mq.id,
            queue_offset=request.offset, max_msg_nums=request.batch_size,
            sys_flag=int(PullSysFlag.SUSPEND | PullSysFlag.SUBSCRIPTION if poll > 0 else PullSysFlag.SUBSCRIPTION),
            commit_offset=0, suspend_timeout_millis=poll, sub_version=0,
            subscription=sub.sub_string, expression_type=expr_type,
        )  # fmt: skip
        resp = await self._call(
            addr, RequestCode.PULL_MESSAGE, header.to_ext_fields(), timeout=poll / 1000 + 5
        )
        if isinstance(resp, pb.Status):
            yield spb.PullMessageResponse(status=resp)
            return
        ext = resp.ext_fields or {}
        next_offset = int(ext.get("nextBeginOffset", str(request.offset)))
        if resp.code == ResponseCode.SUCCESS:
            yield spb.PullMessageResponse(status=status())
            for msg in decode_records(resp.body or b"", decompress=True):
                yield spb.PullMessageResponse(message=to_v2(msg))
        elif resp.code in (ResponseCode.PULL_NOT_FOUND, ResponseCode.PULL_RETRY_IMMEDIATELY):
            yield spb.PullMessageResponse(status=status(pb.MESSAGE_NOT_FOUND, "no new message"))
        elif resp.code == ResponseCode.PULL_OFFSET_MOVED:
            yield spb.PullMessageResponse(status=status(pb.ILLEGAL_OFFSET, "offset out of range"))
        else:
            yield spb.PullMessageResponse(status=status(code_of_response(resp.code), resp.remark or ""))
            return
        yield spb.PullMessageResponse(next_offset=next_offset)
