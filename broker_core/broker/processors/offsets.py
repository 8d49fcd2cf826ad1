"""Consumer offsets and queue offset queries (codes 14, 15, 29, 30, 31, 32)."""

from __future__ import annotations

from broker_core.broker.context import BrokerContext
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.offset import (
    QueryConsumerOffsetRequestHeader,
    QueueRequestHeader,
    SearchOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)


class OffsetProcessor:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(RequestCode.QUERY_CONSUMER_OFFSET, self.query_consumer_offset)
        dispatcher.register(RequestCode.UPDATE_CONSUMER_OFFSET, self.update_consumer_offset)
        dispatcher.register(RequestCode.GET_MAX_OFFSET, self.max_offset)
        dispatcher.register(RequestCode.GET_MIN_OFFSET, self.min_offset)
        dispatcher.register(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, self.search_offset)
        dispatcher.register(RequestCode.GET_EARLIEST_MSG_STORETIME, self.earliest_time)

    def query_consumer_offset(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = QueryConsumerOffsetRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        offset = self.ctx.offsets.query(h.consumer_group, h.topic, h.queue_id)
        if offset >= 0:
            return request.make_response(ext_fields={"offset": str(offset)})
        # No committed offset: Apache answers 0 while the queue still starts at 0 (its first
        # message has not been deleted), so CONSUME_FROM_LAST_OFFSET still sees early messages.
        if self.ctx.store.get_min_offset_in_queue(h.topic, h.queue_id) <= 0:
            return request.make_response(ext_fields={"offset": "0"})
        return request.make_response(
            ResponseCode.QUERY_NOT_FOUND, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first"
        )

    def update_consumer_offset(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = UpdateConsumerOffsetRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        self.ctx.offsets.commit(h.consumer_group, h.topic, h.queue_id, h.commit_offset)
        return request.make_response()

    def _queue(self, request: RemotingCommand) -> QueueRequestHeader | RemotingCommand:
        try:
            return QueueRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))

    def max_offset(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        h = self._queue(request)
        if isinstance(h, RemotingCommand):
            return h
        offset = self.ctx.store.get_max_offset_in_queue(h.topic, h.queue_id)
        return request.make_response(ext_fields={"offset": str(offset)})

    def min_offset(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        h = self._queue(request)
        if isinstance(h, RemotingCommand):
            return h
        offset = self.ctx.store.get_min_offset_in_queue(h.topic, h.queue_id)
        return request.make_response(ext_fields={"offset": str(offset)})

    def earliest_time(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        h = self._queue(request)
        if isinstance(h, RemotingCommand):
            return h
        ts = self.ctx.store.get_earliest_message_time(h.topic, h.queue_id)
        return request.make_response(ext_fields={"timestamp": str(ts)})

    def search_offset(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = SearchOffsetRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        offset = self.ctx.store.get_offset_in_queue_by_time(h.topic, h.queue_id, h.timestamp)
        return request.make_response(ext_fields={"offset": str(offset)})
