"""Consumer administration (remoting spec 4.11, storage spec 11.3): groups, lag, offset reset and
the requests the broker relays to a consumer client.

GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY are answered by the client itself: the broker
finds the client's channel by client id, forwards the request over that connection (5 s timeout)
and relays the client's answer. INVOKE_BROKER_TO_RESET_OFFSET computes per-queue offsets here and
pushes them to every member as RESET_CONSUMER_CLIENT_OFFSET (oneway).
"""

from __future__ import annotations

import asyncio
import json
import time

from broker_core.broker.clients import ClientChannelInfo
from broker_core.broker.context import BrokerContext
from broker_core.broker.groups import SubscriptionGroupConfig
from broker_core.broker.offsets import TOPIC_GROUP_SEPARATOR
from broker_core.broker.schedule import ScheduleMessageService
from broker_core.broker.stats import GROUP_GET_NUMS
from broker_core.broker.topics import OFFSET_MOVED_EVENT
from broker_core.config.broker import BrokerRole
from broker_core.errors import BrokerCoreError
from broker_core.logsetup import get_logger
from broker_core.message.model import BrokerMessage
from broker_core.message.msg_id import decode_offset_msg_id
from broker_core.message.properties import MessageConst, encode_properties, tags_hash_code
from broker_core.remoting import fastjson
from broker_core.remoting.body.consumer_admin import (
    MQ,
    Connection,
    ConsumerConnection,
    ConsumeStats,
    OffsetWrapper,
    TopicOffset,
    encode_group_list,
    encode_offset_list_for_c,
    encode_offset_table,
    encode_topic_stats,
)
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import LanguageCode, RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.errors_util import ignore_closed
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.client import TopicRequestHeader
from broker_core.remoting.headers.consumer_admin import (
    ConsumeMessageDirectlyRequestHeader,
    ConsumerGroupHeader,
    DeleteSubscriptionGroupRequestHeader,
    GetConsumerRunningInfoRequestHeader,
    GetConsumeStatsRequestHeader,
    QueryTopicConsumeByWhoRequestHeader,
    ResetOffsetRequestHeader,
)

log = get_logger(__name__)

CALL_CLIENT_TIMEOUT = 5.0
#: ``MQVersion.Version.V3_1_8_SNAPSHOT``: oldest client that answers GET_CONSUMER_RUNNING_INFO.
RUNNING_INFO_MIN_VERSION = 62


def _language_name(code: int) -> str:
    try:
        return LanguageCode(code).name
    except ValueError:
        return str(code)


_background: set[asyncio.Task[object]] = set()


def record_offset_moved(
    ctx: BrokerContext, group: str, topic: str, queue_id: int, requested: int, new: int
) -> None:
    """Store an ``OffsetMovedEvent`` in ``OFFSET_MOVED_EVENT`` (storage spec 3.1) for PULL_OFFSET_MOVED.

    Called from the synchronous pull path, so the put runs as a task of its own.
    """
    event = {
        "consumerGroup": group,
        "messageQueue": {"brokerName": ctx.config.broker_name, "queueId": queue_id, "topic": topic},
        "offsetNew": new,
        "offsetRequest": requested,
    }
    msg = BrokerMessage(
        topic=OFFSET_MOVED_EVENT,
        queue_id=0,
        body=json.dumps(event, separators=(",", ":")).encode(),
        properties_str=encode_properties({MessageConst.TAGS: group, MessageConst.KEYS: group}),
        tags_code=tags_hash_code(group),
        born_timestamp=int(time.time() * 1000),
        born_host=ctx.store_host,
        store_host=ctx.store_host,
    )
    task: asyncio.Task[object] = asyncio.get_running_loop().create_task(
        ctx.store.put_message(msg, wait_store_msg_ok=False)
    )
    _background.add(task)
    task.add_done_callback(_background.discard)


class ConsumerAdminProcessor:
    def __init__(self, ctx: BrokerContext, schedule: ScheduleMessageService | None = None) -> None:
        self.ctx = ctx
        self.schedule = schedule

    def register(self, d: Dispatcher) -> None:
        d.register(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, self.update_group)
        d.register(RequestCode.DELETE_SUBSCRIPTIONGROUP, self.delete_group)
        d.register(RequestCode.GET_CONSUME_STATS, self.consume_stats)
        d.register(RequestCode.GET_TOPIC_STATS_INFO, self.topic_stats)
        d.register(RequestCode.GET_CONSUMER_CONNECTION_LIST, self.connection_list)
        d.register(RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, self.consume_by_who)
        d.register(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, self.reset_offset)
        d.register(RequestCode.GET_CONSUMER_RUNNING_INFO, self.running_info)
        d.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, self.consume_directly)
        d.register(RequestCode.GET_ALL_DELAY_OFFSET, self.all_delay_offsets)

    # ---- subscription groups ------------------------------------------------------------------
    def update_group(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        if self.ctx.config.broker_role is BrokerRole.SLAVE:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                "Can't modify topic or subscription group from slave broker, please use master.",
            )
        try:
            cfg = SubscriptionGroupConfig.from_json_dict(fastjson.loads(request.body or b"{}"))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, f"bad SubscriptionGroupConfig: {exc}")
        self.ctx.groups.update(cfg)
        log.info("subscription group updated", group=cfg.group_name, retry_max_times=cfg.retry_max_times)
        return request.make_response()

    def delete_group(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = DeleteSubscriptionGroupRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        self.ctx.groups.delete(h.group_name)
        if h.remove_offset:
            self.ctx.offsets.remove_group(h.group_name)
        return request.make_response()

    # ---- statistics ---------------------------------------------------------------------------
    def consume_stats(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        ctx = self.ctx
        try:
            h = GetConsumeStatsRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        if h.topic:
            topics = [h.topic]
        else:
            suffix = TOPIC_GROUP_SEPARATOR + h.consumer_group
            topics = sorted(k[: -len(suffix)] for k in ctx.offsets.table if k.endswith(suffix))
            online = ctx.consumers.groups.get(h.consumer_group)
            if online is not None:  # skip topics the online group no longer subscribes to
                topics = [t for t in topics if t in online.subscriptions]
        store = ctx.store
        table: dict[MQ, OffsetWrapper] = {}
        for topic in topics:
            tc = ctx.topics.get(topic)
            if tc is None:
                continue
            for qid in range(tc.read_queue_nums):
                broker_offset = max(store.get_max_offset_in_queue(topic, qid), 0)
                consumer_offset = max(ctx.offsets.query(h.consumer_group, topic, qid), 0)
                last = 0
                if consumer_offset > 0:
                    last = max(store.get_message_store_timestamp(topic, qid, consumer_offset - 1), 0)
                table[(topic, ctx.config.broker_name, qid)] = OffsetWrapper(
                    broker_offset, consumer_offset, last
                )
        tps = sum(ctx.stats.minute_tps(GROUP_GET_NUMS, f"{t}@{h.consumer_group}") for t in topics)
        return request.make_response(body=ConsumeStats(table, tps).encode())

    def topic_stats(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = TopicRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        tc = self.ctx.topics.get(h.topic)
        if tc is None:
            return request.make_response(ResponseCode.TOPIC_NOT_EXIST, f"topic[{h.topic}] not exist")
        store = self.ctx.store
        table: dict[MQ, TopicOffset] = {}
        for qid in range(tc.write_queue_nums):
            lo = max(store.get_min_offset_in_queue(h.topic, qid), 0)
            hi = max(store.get_max_offset_in_queue(h.topic, qid), 0)
            ts = max(store.get_message_store_timestamp(h.topic, qid, hi - 1), 0) if hi > 0 else 0
            table[(h.topic, self.ctx.config.broker_name, qid)] = TopicOffset(lo, hi, ts)
        return request.make_response(body=encode_topic_stats(table))

    def connection_list(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = ConsumerGroupHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        info = self.ctx.consumers.groups.get(h.consumer_group)
        if info is None or not info.channels:
            return request.make_response(
                ResponseCode.CONSUMER_NOT_ONLINE, f"the consumer group[{h.consumer_group}] not online"
            )
        conns = [
            Connection(m.client_id, ch.remote_addr, _language_name(m.language), m.version)
            for ch, m in info.channels.items()
        ]
        body = ConsumerConnection(
            conns,
            {t: s.to_json() for t, s in info.subscriptions.items()},
            info.consume_type,
            info.message_model,
            info.consume_from_where,
        )
        return request.make_response(body=body.encode())

    def consume_by_who(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = QueryTopicConsumeByWhoRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        groups = {g for g, info in self.ctx.consumers.groups.items() if h.topic in info.subscriptions}
        groups |= self.ctx.offsets.groups_of_topic(h.topic)
        return request.make_response(body=encode_group_list(groups))

    def all_delay_offsets(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        if self.schedule is None:
            return request.make_response(ResponseCode.SYSTEM_ERROR, "schedule service not running")
        text = fastjson.dumps_pretty(self.schedule.to_json_dict())
        return request.make_response(body=text.encode("utf-8"))

    # ---- offset reset -------------------------------------------------------------------------
    def reset_offset(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        """Offsets at ``timestamp`` (-1 = queue max) per queue; moved back only if ``isForce`` or earlier.

        Apache leaves committing to the clients; the broker commits as well so that a group with no
        member running picks the reset up on its next start.
        """
        ctx = self.ctx
        try:
            h = ResetOffsetRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        tc = ctx.topics.get(h.topic)
        if tc is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"[reset-offset] topic not exist, {h.topic}"
            )
        offsets: dict[MQ, int] = {}
        for qid in range(tc.write_queue_nums):
            current = ctx.offsets.query(h.group, h.topic, qid)
            if current == -1:
                return request.make_response(
                    ResponseCode.SYSTEM_ERROR, f"THe consumer group <{h.group}> not exist"
                )
            if h.timestamp == -1:
                target = ctx.store.get_max_offset_in_queue(h.topic, qid)
            else:
                target = ctx.store.get_offset_in_queue_by_time(h.topic, qid, h.timestamp)
            target = max(target, 0)
            offsets[(h.topic, ctx.config.broker_name, qid)] = (
                target if h.is_force or target < current else current
            )
        for (_t, _b, qid), offset in offsets.items():
            ctx.offsets.commit(h.group, h.topic, qid, offset)
        # The C++ client reads only the list form (ResetOffsetBodyForC). Apache picks the form by the
        # requester's language; each consumer here gets the form its own language reads.
        map_body, c_body = encode_offset_table(offsets), encode_offset_list_for_c(offsets)
        info = ctx.consumers.groups.get(h.group)
        for ch, member in list(info.channels.items()) if info is not None else []:
            push = RemotingCommand.request(
                RequestCode.RESET_CONSUMER_CLIENT_OFFSET,
                h.to_ext_fields(),
                c_body if member.language == LanguageCode.CPP else map_body,
                oneway=True,
            )
            with ignore_closed():
                ch.invoke_oneway(push)
        log.info("consumer offsets reset", group=h.group, topic=h.topic, timestamp=h.timestamp)
        return request.make_response(body=c_body if request.language == LanguageCode.CPP else map_body)

    # ---- relayed to the client ----------------------------------------------------------------
    def _member(self, group: str, client_id: str | None) -> tuple[Channel, ClientChannelInfo] | None:
        info = self.ctx.consumers.groups.get(group)
        if info is None:
            return None
        for ch, member in info.channels.items():
            if client_id is None or member.client_id == client_id:
                return ch, member
        return None

    async def _relay(self, request: RemotingCommand, target: Channel, body: bytes | None) -> RemotingCommand:
        forward = RemotingCommand.request(request.code, dict(request.ext_fields or {}), body)
        try:
            answer = await target.invoke(forward, CALL_CLIENT_TIMEOUT)
        except (BrokerCoreError, OSError) as exc:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"invoke consumer <{target.remote_addr}> Exception: {exc}"
            )
        return request.make_response(answer.code, answer.remark, answer.ext_fields, answer.body)

    async def running_info(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = GetConsumerRunningInfoRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        found = self._member(h.consumer_group, h.client_id)
        if found is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"The Consumer <{h.consumer_group}> <{h.client_id}> not online"
            )
        ch, member = found
        if member.version < RUNNING_INFO_MIN_VERSION:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"The Consumer <{h.consumer_group}> Version <{member.version}> too low to finish, "
                "please upgrade it to V3_1_8_SNAPSHOT",
            )
        return await self._relay(request, ch, None)

    async def consume_directly(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = ConsumeMessageDirectlyRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        record = None
        if h.msg_id:
            try:
                _host, phy = decode_offset_msg_id(h.msg_id)
            except (ValueError, BrokerCoreError):
                phy = -1
            record = self.ctx.store.select_one_message_by_offset(phy) if phy >= 0 else None
        if record is None:
            return request.make_response(ResponseCode.SYSTEM_ERROR, f"no message found, msgId: {h.msg_id}")
        found = self._member(h.consumer_group, h.client_id)
        if found is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"The Consumer <{h.consumer_group}> <{h.client_id}> not online"
            )
        if request.ext_fields is not None:
            request.ext_fields["brokerName"] = self.ctx.config.broker_name
        return await self._relay(request, found[0], record)
