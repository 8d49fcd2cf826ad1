"""HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP, LOCK_BATCH_MQ, UNLOCK_BATCH_MQ."""

from __future__ import annotations

from broker_core.broker.context import BrokerContext
from broker_core.broker.topics import RETRY_GROUP_TOPIC_PREFIX
from broker_core.logsetup import get_logger
from broker_core.remoting.body.heartbeat import (
    HeartbeatData,
    LockBatchBody,
    encode_consumer_list,
    encode_lock_response,
)
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.client import ConsumerGroupRequestHeader, UnregisterClientRequestHeader

log = get_logger(__name__)


class ClientProcessor:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(RequestCode.HEART_BEAT, self.heartbeat)
        dispatcher.register(RequestCode.UNREGISTER_CLIENT, self.unregister_client)
        dispatcher.register(RequestCode.GET_CONSUMER_LIST_BY_GROUP, self.consumer_list)
        dispatcher.register(RequestCode.LOCK_BATCH_MQ, self.lock_batch)
        dispatcher.register(RequestCode.UNLOCK_BATCH_MQ, self.unlock_batch)

    def heartbeat(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        ctx = self.ctx
        try:
            data = HeartbeatData.decode(request.body or b"{}")
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, f"bad heartbeat body: {exc}")
        channel.attributes["client_id"] = data.client_id
        for consumer in data.consumers:
            gcfg = ctx.groups.find(consumer.group_name)
            if gcfg is not None:
                retry = RETRY_GROUP_TOPIC_PREFIX + consumer.group_name
                if ctx.topics.get(retry) is None:
                    ctx.topics.create_system_like(retry, gcfg.retry_queue_nums)
                    ctx.on_topics_changed()
            changed = ctx.consumers.register(
                consumer, channel, data.client_id, request.language, request.version
            )
            if ctx.filters is not None:
                ctx.filters.register(consumer.group_name, consumer.subscriptions)
            if changed and (gcfg is None or gcfg.notify_consumer_ids_changed_enable):
                ctx.consumers.notify_ids_changed(consumer.group_name)
        for group in data.producer_groups:
            ctx.producers.register(group, channel, data.client_id, request.language, request.version)
        return request.make_response()

    def unregister_client(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = UnregisterClientRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        if h.producer_group:
            self.ctx.producers.unregister(h.producer_group, channel)
        if h.consumer_group and self.ctx.consumers.unregister(h.consumer_group, channel):
            if self.ctx.filters is not None and h.consumer_group not in self.ctx.consumers.groups:
                self.ctx.filters.unregister(h.consumer_group)
            gcfg = self.ctx.groups.table.get(h.consumer_group)
            if gcfg is None or gcfg.notify_consumer_ids_changed_enable:
                self.ctx.consumers.notify_ids_changed(h.consumer_group)
        return request.make_response()

    def consumer_list(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = ConsumerGroupRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        ids = self.ctx.consumers.client_ids(h.consumer_group)
        if not ids:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"no consumer for this group, {h.consumer_group}"
            )
        return request.make_response(body=encode_consumer_list(ids))

    def lock_batch(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            body = LockBatchBody.decode(request.body or b"{}")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, f"bad lock body: {exc}")
        granted = self.ctx.locks.try_lock_batch(body.consumer_group, body.mq_set, body.client_id)
        return request.make_response(body=encode_lock_response(granted))

    def unlock_batch(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            body = LockBatchBody.decode(request.body or b"{}")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, f"bad unlock body: {exc}")
        self.ctx.locks.unlock_batch(body.consumer_group, body.mq_set, body.client_id)
        return request.make_response()
