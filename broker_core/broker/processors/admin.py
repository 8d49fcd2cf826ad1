"""Admin requests: topic create/delete, topic table, consumer offsets and groups dumps."""

from __future__ import annotations

import json
from collections.abc import Callable

from broker_core.broker.context import BrokerContext
from broker_core.broker.processors.ops import runtime_table
from broker_core.broker.topics import is_system_topic
from broker_core.config.broker import BrokerRole
from broker_core.logsetup import get_logger
from broker_core.message.names import validate_topic
from broker_core.remoting import fastjson
from broker_core.remoting.body.topic_config import TopicConfig, TopicFilterType
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.client import CreateTopicRequestHeader, TopicRequestHeader

log = get_logger(__name__)


class AdminProcessor:
    """Admin codes; ``runtime_extra`` adds service figures to GET_BROKER_RUNTIME_INFO."""

    def __init__(self, ctx: BrokerContext, runtime_extra: Callable[[], dict[str, str]] | None = None) -> None:
        self.ctx = ctx
        self.runtime_extra = runtime_extra

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(RequestCode.UPDATE_AND_CREATE_TOPIC, self.create_topic)
        dispatcher.register(RequestCode.DELETE_TOPIC_IN_BROKER, self.delete_topic)
        dispatcher.register(RequestCode.GET_ALL_TOPIC_CONFIG, self.all_topic_config)
        dispatcher.register(RequestCode.GET_ALL_CONSUMER_OFFSET, self.all_consumer_offsets)
        dispatcher.register(RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, self.all_groups)
        dispatcher.register(RequestCode.GET_BROKER_RUNTIME_INFO, self.runtime_info)

    def create_topic(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        ctx = self.ctx
        try:
            h = CreateTopicRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        if ctx.config.broker_role is BrokerRole.SLAVE:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                "Can't modify topic or subscription group from slave broker, please use master.",
            )
        problem = validate_topic(h.topic)
        if problem is not None:
            return request.make_response(ResponseCode.SYSTEM_ERROR, problem)
        if is_system_topic(h.topic, ctx.config):
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"The topic[{h.topic}] is conflict with system topic."
            )
        if (
            h.read_queue_nums <= 0
            or h.write_queue_nums <= 0
            or h.read_queue_nums > 1024
            or h.write_queue_nums > 1024
        ):
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, "queue numbers must be between 1 and 1024"
            )
        try:
            filter_type = TopicFilterType(h.topic_filter_type or "SINGLE_TAG")
        except ValueError:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"unknown topicFilterType {h.topic_filter_type}"
            )
        tc = TopicConfig(
            h.topic,
            h.read_queue_nums,
            h.write_queue_nums,
            h.perm,
            filter_type,
            h.topic_sys_flag or 0,
            h.order,
        )
        ctx.topics.update(tc)
        ctx.on_topics_changed()
        # Apache's SUCCESS here keeps the remark its response object was created with (captured frame)
        return request.make_response(remark="not set any response code")

    def delete_topic(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = TopicRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        ctx = self.ctx
        if ctx.topics.delete(h.topic):
            ctx.store.delete_topic(h.topic)
            ctx.offsets.remove_topic(h.topic)
            for listener in ctx.on_topic_deleted:
                listener(h.topic)
            ctx.on_topics_changed()
        return request.make_response()

    def all_topic_config(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        return request.make_response(body=self.ctx.topics.wrapper().to_json())

    def all_consumer_offsets(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        body = fastjson.dumps(self.ctx.offsets.to_json_dict(), unquoted_int_keys=True)
        return request.make_response(body=body.encode("utf-8"))

    def all_groups(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        return request.make_response(body=json.dumps(self.ctx.groups.to_json_dict()).encode("utf-8"))

    def runtime_info(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        store = self.ctx.store
        table = {
            "brokerVersion": "409",
            "brokerVersionDesc": "V4_9_8",
            "commitLogMaxOffset": str(store.max_phy_offset),
            "commitLogMinOffset": str(store.min_phy_offset),
            "dispatchBehindBytes": str(store.dispatch_behind_bytes()),
        }
        table.update(runtime_table(self.ctx))
        if self.runtime_extra is not None:
            table.update(self.runtime_extra())
        return request.make_response(body=json.dumps({"table": table}).encode("utf-8"))
