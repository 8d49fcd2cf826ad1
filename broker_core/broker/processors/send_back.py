"""CONSUMER_SEND_MSG_BACK (remoting spec 4.7, storage spec 3.9): a consumer gives a message back.

The original record is looked up by its commit-log offset and re-stored as a new record of
``%RETRY%<group>`` with ``reconsumeTimes + 1``, delayed by level ``3 + reconsumeTimes`` (or the level the
consumer asked for) through ``SCHEDULE_TOPIC_XXXX``. Once the group's retry limit is reached (or the
consumer asks with a negative level) the copy goes to ``%DLQ%<group>`` queue 0 without delay, where
it stays until an operator reads and re-sends it.
"""

from __future__ import annotations

import random

from broker_core.broker.context import BrokerContext
from broker_core.broker.schedule import delayed_destination
from broker_core.broker.topics import DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX
from broker_core.config.store import parse_delay_levels
from broker_core.logsetup import get_logger
from broker_core.message.model import BrokerMessage
from broker_core.message.properties import MessageConst, encode_properties, tags_hash_code
from broker_core.remoting.body.topic_config import PERM_WRITE
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.client import ConsumerSendMsgBackRequestHeader
from broker_core.store.results import PutStatus

log = get_logger(__name__)

#: First client version (V3_4_9) whose ``maxReconsumeTimes`` header the broker honours.
MAX_RECONSUME_HEADER_VERSION = 121
_STORED = (PutStatus.PUT_OK, PutStatus.FLUSH_DISK_TIMEOUT, PutStatus.FLUSH_SLAVE_TIMEOUT)


class SendBackProcessor:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx
        self._max_delay_level = len(parse_delay_levels(ctx.store.config.message_delay_level))

    async def __call__(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        ctx = self.ctx
        try:
            h = ConsumerSendMsgBackRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        gcfg = ctx.groups.find(h.group)
        if gcfg is None:
            return request.make_response(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, f"subscription group not exist, {h.group}"
            )
        if not ctx.config.broker_permission & PERM_WRITE:
            return request.make_response(
                ResponseCode.NO_PERMISSION,
                f"the broker[{ctx.config.broker_ip1}] sending message is forbidden",
            )
        if gcfg.retry_queue_nums <= 0:
            return request.make_response()
        retry_topic = RETRY_GROUP_TOPIC_PREFIX + h.group
        tc = ctx.topics.get(retry_topic)
        if tc is None:
            tc = ctx.topics.create_system_like(retry_topic, gcfg.retry_queue_nums)
            ctx.on_topics_changed()
        if not tc.perm & PERM_WRITE:
            return request.make_response(
                ResponseCode.NO_PERMISSION, f"the topic[{retry_topic}] sending message is forbidden"
            )
        msg = ctx.store.look_message_by_offset(h.offset)
        if msg is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"look message by offset failed, {h.offset}"
            )
        props = dict(msg.properties)
        props.setdefault(MessageConst.RETRY_TOPIC, msg.topic)
        props.pop(MessageConst.DELAY, None)
        max_times = gcfg.retry_max_times
        if request.version >= MAX_RECONSUME_HEADER_VERSION and h.max_reconsume_times is not None:
            max_times = h.max_reconsume_times
        topic, queue_id = retry_topic, random.randrange(max(tc.write_queue_nums, 1))
        delay_level = h.delay_level
        if msg.reconsume_times >= max_times or delay_level < 0:
            topic, queue_id, delay_level = DLQ_GROUP_TOPIC_PREFIX + h.group, 0, 0
            dlq = ctx.topics.get(topic)
            if dlq is None:
                dlq = ctx.topics.create_system_like(topic, 1)
                ctx.on_topics_changed()
            if not dlq.perm & PERM_WRITE:
                return request.make_response(
                    ResponseCode.NO_PERMISSION, f"the topic[{topic}] sending message is forbidden"
                )
            log.info("message moved to DLQ", group=h.group, topic=topic, offset=h.offset)
        elif delay_level == 0:
            delay_level = 3 + msg.reconsume_times
        if delay_level > 0:
            props[MessageConst.DELAY] = str(delay_level)
        if not props.get(MessageConst.ORIGIN_MESSAGE_ID):
            props[MessageConst.ORIGIN_MESSAGE_ID] = msg.offset_msg_id
        props_str = encode_properties(props)
        store_topic, store_qid = topic, queue_id
        routed = delayed_destination(
            topic, queue_id, props_str, delay_level, msg.sys_flag, self._max_delay_level
        )
        if routed is not None:
            store_topic, store_qid, props_str = routed
        result = await ctx.store.put_message(
            BrokerMessage(
                topic=store_topic,
                queue_id=store_qid,
                body=msg.body,
                properties_str=props_str,
                flag=msg.flag,
                tags_code=tags_hash_code(props.get(MessageConst.TAGS)),
                sys_flag=msg.sys_flag,
                born_timestamp=msg.born_timestamp,
                born_host=msg.born_host,
                store_host=ctx.store_host,
                reconsume_times=msg.reconsume_times + 1,
            )
        )
        if result.status not in _STORED:
            return request.make_response(ResponseCode.SYSTEM_ERROR, result.status.name)
        ctx.stats.on_send_back(props.get(MessageConst.RETRY_TOPIC) or msg.topic, h.group)
        return request.make_response()
