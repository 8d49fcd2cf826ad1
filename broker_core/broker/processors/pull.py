"""PULL_MESSAGE (storage spec 3.1): checks, filtered store read, long polling, offset commit.

The same routine runs twice for a parked request: first from the network with permission to
suspend, then from :class:`~broker_core.broker.long_polling.PullHoldService` without it.

A pull whose subscription version is newer than the group's (SUBSCRIPTION_NOT_LATEST) waits up to
:data:`SUBSCRIPTION_WAIT_S` for the heartbeat that carries that version before it is answered: a
Java consumer sends its pulls and then that heartbeat after a rebalance, and every queue whose pull
overtakes it would otherwise back off for 3 s. No heartbeat in time: the same answer as Apache's.
"""

from __future__ import annotations

import asyncio

from broker_core.broker.context import BrokerContext
from broker_core.broker.filtering.pull_filter import record_filter, resolve_sql92
from broker_core.broker.filtering.tags import tag_filter
from broker_core.broker.processors.consumer_admin import record_offset_moved
from broker_core.config.broker import BrokerRole
from broker_core.remoting.body.heartbeat import SubscriptionData
from broker_core.remoting.body.topic_config import PERM_READ
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import HandlerResult
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.pull import PullMessageRequestHeader, PullSysFlag
from broker_core.store.results import GetMessageStatus

_S = GetMessageStatus
_STATUS_CODES = {
    _S.FOUND: ResponseCode.SUCCESS,
    _S.MESSAGE_WAS_REMOVING: ResponseCode.PULL_RETRY_IMMEDIATELY,
    _S.NO_MATCHED_MESSAGE: ResponseCode.PULL_RETRY_IMMEDIATELY,
    _S.OFFSET_FOUND_NULL: ResponseCode.PULL_NOT_FOUND,
    _S.OFFSET_OVERFLOW_BADLY: ResponseCode.PULL_OFFSET_MOVED,
    _S.OFFSET_OVERFLOW_ONE: ResponseCode.PULL_NOT_FOUND,
    _S.OFFSET_TOO_SMALL: ResponseCode.PULL_OFFSET_MOVED,
}


#: how long a pull ahead of its group's subscription version waits for the heartbeat (seconds)
SUBSCRIPTION_WAIT_S = 0.5


class PullProcessor:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx
        #: group -> futures of pulls waiting for that group's next heartbeat
        self._heartbeat_waiters: dict[str, list[asyncio.Future[None]]] = {}
        ctx.consumers.on_registered.append(self._heartbeat_seen)

    def __call__(self, request: RemotingCommand, channel: Channel) -> HandlerResult:
        response = self.process(request, channel, allow_suspend=True)
        if response is not None and response.code == ResponseCode.SUBSCRIPTION_NOT_LATEST:
            return self._after_heartbeat(request, channel)
        return response

    def _heartbeat_seen(self, group: str) -> None:
        for fut in self._heartbeat_waiters.pop(group, ()):
            if not fut.done():
                fut.set_result(None)

    async def _after_heartbeat(self, request: RemotingCommand, channel: Channel) -> RemotingCommand | None:
        """Run the pull again once a heartbeat brought its subscription version (or time ran out)."""
        ext = request.ext_fields or {}
        group, topic = ext.get("consumerGroup", ""), ext.get("topic", "")
        try:
            wanted = int(ext.get("subVersion", "0"))
        except ValueError:
            wanted = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBSCRIPTION_WAIT_S
        while (remaining := deadline - loop.time()) > 0:
            fut: asyncio.Future[None] = loop.create_future()
            self._heartbeat_waiters.setdefault(group, []).append(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                break
            finally:
                waiters = self._heartbeat_waiters.get(group)
                if waiters is not None and fut in waiters:
                    waiters.remove(fut)
                    if not waiters:
                        del self._heartbeat_waiters[group]
            info = self.ctx.consumers.groups.get(group)
            sub = info.subscriptions.get(topic) if info is not None else None
            if sub is not None and sub.sub_version >= wanted:
                break
        if not channel.is_open:
            return None
        return self.process(request, channel, allow_suspend=True)

    def rerun(self, request: RemotingCommand, channel: Channel) -> RemotingCommand | None:
        return self.process(request, channel, allow_suspend=False)

    def process(
        self, request: RemotingCommand, channel: Channel, *, allow_suspend: bool
    ) -> RemotingCommand | None:
        ctx = self.ctx
        try:
            h = PullMessageRequestHeader.from_ext_fields(request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        if not ctx.config.broker_permission & PERM_READ:
            return request.make_response(
                ResponseCode.NO_PERMISSION,
                f"the broker[{ctx.config.broker_ip1}] pulling message is forbidden",
            )
        gcfg = ctx.groups.find(h.consumer_group)
        if gcfg is None:
            return request.make_response(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group [{h.consumer_group}] does not exist",
            )
        if not gcfg.consume_enable:
            return request.make_response(
                ResponseCode.NO_PERMISSION, f"subscription group no permission, {h.consumer_group}"
            )
        tc = ctx.topics.get(h.topic)
        if tc is None:
            return request.make_response(
                ResponseCode.TOPIC_NOT_EXIST, f"topic[{h.topic}] not exist, apply first please!"
            )
        if not tc.perm & PERM_READ:
            return request.make_response(
                ResponseCode.NO_PERMISSION, f"the topic[{h.topic}] pulling message is forbidden"
            )
        if h.queue_id < 0 or h.queue_id >= tc.read_queue_nums:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"queueId[{h.queue_id}] is illegal, topic:[{h.topic}] topicConfig.readQueueNums:"
                f"[{tc.read_queue_nums}] consumer:[{channel.remote_addr}]",
            )
        sub = self._subscription(request, h)
        if isinstance(sub, RemotingCommand):
            return sub
        record_flt = None
        if sub.expression_type != "TAG":
            if not ctx.config.enable_property_filter:
                return request.make_response(
                    ResponseCode.SYSTEM_ERROR,
                    f"The broker does not support consumer to filter message by {sub.expression_type}",
                )
            selector = resolve_sql92(
                ctx.filters, h.consumer_group, sub, bool(h.sys_flag & PullSysFlag.SUBSCRIPTION)
            )
            if isinstance(selector, tuple):
                return request.make_response(selector[0], selector[1])
            record_flt = record_filter(selector)
        flt = tag_filter(sub)
        result = ctx.store.get_message(
            h.consumer_group, h.topic, h.queue_id, h.queue_offset, h.max_msg_nums, flt,
            commit_log_filter=record_flt, views=True,
        )  # fmt: skip
        status = result.status
        if status in (_S.NO_MATCHED_LOGIC_QUEUE, _S.NO_MESSAGE_IN_QUEUE):
            code = ResponseCode.PULL_OFFSET_MOVED if h.queue_offset != 0 else ResponseCode.PULL_NOT_FOUND
        else:
            code = _STATUS_CODES.get(status, ResponseCode.SYSTEM_ERROR)
        # Apache: without slaveReadEnable every pull is steered to the master (id 0)
        suggest = 0
        if ctx.config.slave_read_enable:
            suggest = (
                gcfg.which_broker_when_consume_slowly if result.suggest_pull_from_slave else gcfg.broker_id
            )
        next_begin = result.next_begin_offset
        if code == ResponseCode.PULL_OFFSET_MOVED and ctx.config.broker_role is not BrokerRole.SLAVE:
            record_offset_moved(ctx, h.consumer_group, h.topic, h.queue_id, h.queue_offset, next_begin)
        if ctx.config.broker_role is BrokerRole.SLAVE:
            if code == ResponseCode.PULL_OFFSET_MOVED:  # a slave does not correct offsets
                code, next_begin = ResponseCode.PULL_RETRY_IMMEDIATELY, h.queue_offset
            if not ctx.config.slave_read_enable:
                code, suggest = ResponseCode.PULL_RETRY_IMMEDIATELY, 0
        if (
            allow_suspend
            and h.sys_flag & PullSysFlag.COMMIT_OFFSET
            and ctx.config.broker_role is not BrokerRole.SLAVE
        ):
            ctx.offsets.commit(h.consumer_group, h.topic, h.queue_id, h.commit_offset)
        if (
            code == ResponseCode.PULL_NOT_FOUND
            and allow_suspend
            and h.sys_flag & PullSysFlag.SUSPEND
            and ctx.hold
        ):
            timeout_ms = (
                h.suspend_timeout_millis
                if ctx.config.long_polling_enable
                else ctx.config.short_polling_time_mills
            )
            ctx.hold.suspend(
                h.topic,
                h.queue_id,
                request,
                channel,
                h.queue_offset,
                max(timeout_ms, 0) / 1000.0,
                flt or (lambda _code: True),
            )
            return None
        ext = {
            "suggestWhichBrokerId": str(suggest),
            "nextBeginOffset": str(next_begin),
            "minOffset": str(result.min_offset),
            "maxOffset": str(result.max_offset),
        }
        response = request.make_response(code, status.name, ext)
        if code == ResponseCode.SUCCESS:
            # the records as views of the mapped segments, written out without a copy
            response.body_parts = result.message_buffers
            ctx.stats.on_get(
                h.topic, h.consumer_group, h.queue_id, len(result.message_buffers), result.buffer_total_size
            )
        else:
            ctx.stats.on_get_miss()
        return response

    def _subscription(
        self, request: RemotingCommand, h: PullMessageRequestHeader
    ) -> SubscriptionData | RemotingCommand:
        if h.sys_flag & PullSysFlag.SUBSCRIPTION:
            expr_type = (h.expression_type or "TAG").upper()
            if expr_type != "TAG" and not (h.subscription or "").strip():
                return request.make_response(
                    ResponseCode.SUBSCRIPTION_PARSE_FAILED, "parse the consumer's subscription failed"
                )
            return SubscriptionData.build(h.topic, h.subscription, h.sub_version, expr_type)
        info = self.ctx.consumers.groups.get(h.consumer_group)
        if info is None:
            return request.make_response(
                ResponseCode.SUBSCRIPTION_NOT_EXIST,
                f"the consumer's group info not exist, group: {h.consumer_group}",
            )
        gcfg = self.ctx.groups.find(h.consumer_group)
        if info.message_model == "BROADCASTING" and gcfg is not None and not gcfg.consume_broadcast_enable:
            return request.make_response(
                ResponseCode.NO_PERMISSION,
                f"the consumer group[{h.consumer_group}] can not consume by broadcast way",
            )
        sub = info.subscriptions.get(h.topic)
        if sub is None:
            return request.make_response(
                ResponseCode.SUBSCRIPTION_NOT_EXIST,
                f"the consumer's subscription not exist, group: {h.consumer_group}",
            )
        if sub.sub_version < h.sub_version:
            return request.make_response(
                ResponseCode.SUBSCRIPTION_NOT_LATEST,
                f"the consumer's subscription not latest, group: {h.consumer_group}",
            )
        return sub
