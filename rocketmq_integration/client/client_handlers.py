"""Answers to broker-initiated requests about a consumer (remoting spec 4.11, Java ``ClientRemotingProcessor``).

The broker forwards these over the client's own connection; :func:`install` registers them on the
:class:`MQClientInstance` dispatcher, and each one finds the consumer of the request's group:

| code | what the client does |
|---|---|
| GET_CONSUMER_RUNNING_INFO (307) | ``ConsumerRunningInfo``: properties, subscriptions, one ``ProcessQueueInfo`` per queue |
| CONSUME_MESSAGE_DIRECTLY (309) | runs the listener on the message in the body, answers a ``ConsumeMessageDirectlyResult`` |
| RESET_CONSUMER_CLIENT_OFFSET (220) | releases the topic's queues, stores the given offsets, rebalances (oneway) |
| GET_CONSUMER_STATUS_FROM_CLIENT (221) | the in-memory offsets of the topic's queues |

A group unknown to this client, or a consumer kind that cannot answer, gets SYSTEM_ERROR.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from broker_core.errors import MessageDecodeError
from broker_core.message.codec import decode_records
from broker_core.message.model import MessageExt, MessageQueue
from broker_core.remoting.body.client_info import (
    CMResult,
    ConsumeMessageDirectlyResult,
    ConsumerRunningInfo,
    ProcessQueueInfo,
    encode_consumer_status,
)
from broker_core.remoting.body.consumer_admin import decode_offset_table
from broker_core.remoting.body.heartbeat import ConsumerData
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from rocketmq_integration.client.process_queue import ProcessQueue
from rocketmq_integration.client.results import ConsumeResult
from rocketmq_integration.logging import get_logger

if TYPE_CHECKING:
    from rocketmq_integration.client.consume_service import Listener
    from rocketmq_integration.client.mq_client import MQClientInstance

__all__ = ["AdminAwareConsumer", "build_running_info", "consume_directly", "install", "process_queue_info"]

log = get_logger(__name__)


@runtime_checkable
class AdminAwareConsumer(Protocol):
    """What a consumer offers to answer these requests (the push consumer implements it)."""

    def running_info(self) -> ConsumerRunningInfo: ...

    def consumer_offsets(self, topic: str) -> dict[MessageQueue, int]: ...

    async def reset_offsets(self, topic: str, offsets: dict[MessageQueue, int]) -> None: ...

    async def consume_message_directly(self, msg: MessageExt) -> ConsumeMessageDirectlyResult: ...


async def consume_directly(fn: Listener, msg: MessageExt, orderly: bool) -> ConsumeMessageDirectlyResult:
    """Call the listener on one message and classify the outcome as Java does."""
    start = time.monotonic()
    remark = ""
    try:
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None)):  # noqa: B004
            result = await fn([msg])  # type: ignore[misc]
        else:
            result = await asyncio.to_thread(fn, [msg])
    except Exception as exc:  # the listener's failure is the answer, not ours
        result, remark = None, f"{type(exc).__name__}: {exc}"
        outcome = CMResult.CR_THROW_EXCEPTION
    else:
        if result is ConsumeResult.SUCCESS:
            outcome = CMResult.CR_SUCCESS
        elif isinstance(result, ConsumeResult):
            outcome = CMResult.CR_LATER
        else:
            outcome = CMResult.CR_RETURN_NULL
    spent = int((time.monotonic() - start) * 1000)
    return ConsumeMessageDirectlyResult(outcome, order=orderly, remark=remark, spent_time_mills=spent)


def install(dispatcher: Dispatcher, instance: MQClientInstance) -> None:
    """Register the four handlers on ``instance``'s server-request dispatcher."""

    def find(cmd: RemotingCommand, field: str) -> AdminAwareConsumer | None:
        consumer = instance.find_consumer(cmd.field(field) or "")
        return consumer if isinstance(consumer, AdminAwareConsumer) else None

    def no_consumer(cmd: RemotingCommand, field: str) -> RemotingCommand:
        return cmd.make_response(
            ResponseCode.SYSTEM_ERROR,
            f"the consumer group [{cmd.field(field)}] not online in {instance.client_id}",
        )

    def running_info(cmd: RemotingCommand, channel: Channel) -> RemotingCommand:
        consumer = find(cmd, "consumerGroup")
        if consumer is None:
            return no_consumer(cmd, "consumerGroup")
        return cmd.make_response(body=consumer.running_info().encode())

    async def consume_message_directly(cmd: RemotingCommand, channel: Channel) -> RemotingCommand:
        consumer = find(cmd, "consumerGroup")
        if consumer is None:
            return no_consumer(cmd, "consumerGroup")
        try:
            msgs = decode_records(cmd.body or b"", decompress=True)
        except MessageDecodeError as exc:
            return cmd.make_response(ResponseCode.SYSTEM_ERROR, f"bad message body: {exc}")
        if not msgs:
            return cmd.make_response(ResponseCode.SYSTEM_ERROR, "no message in the request body")
        result = await consumer.consume_message_directly(msgs[0])
        return cmd.make_response(body=result.encode())

    async def reset_offset(cmd: RemotingCommand, channel: Channel) -> RemotingCommand | None:
        consumer = find(cmd, "group")
        topic = cmd.field("topic") or ""
        if consumer is None:
            log.warning("offset reset for a group not on this client", group=cmd.field("group"))
            return None
        try:
            table = decode_offset_table(cmd.body or b"{}")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("bad reset offset body", error=str(exc))
            return None
        offsets = {MessageQueue(t, b, q): o for (t, b, q), o in table.items() if t == topic}
        log.info("resetting consumer offsets", group=cmd.field("group"), topic=topic, queues=len(offsets))
        await consumer.reset_offsets(topic, offsets)
        return None if cmd.is_oneway else cmd.make_response()

    def consumer_status(cmd: RemotingCommand, channel: Channel) -> RemotingCommand:
        consumer = find(cmd, "group")
        if consumer is None:
            return no_consumer(cmd, "group")
        offsets = consumer.consumer_offsets(cmd.field("topic") or "")
        body = encode_consumer_status(
            {(mq.topic, mq.broker_name, mq.queue_id): o for mq, o in offsets.items()}
        )
        return cmd.make_response(body=body)

    dispatcher.register(RequestCode.GET_CONSUMER_RUNNING_INFO, running_info)
    dispatcher.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, consume_message_directly)
    dispatcher.register(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, reset_offset)
    dispatcher.register(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, consumer_status)


def process_queue_info(pq: ProcessQueue, commit_offset: int) -> ProcessQueueInfo:
    """Java ``ProcessQueue.fillProcessQueueInfo`` (monotonic stamps converted to wall-clock ms)."""
    to_ms = time.time() - time.monotonic()
    return ProcessQueueInfo(
        commit_offset=commit_offset,
        cached_msg_min_offset=pq.min_offset if pq.min_offset is not None else 0,
        cached_msg_max_offset=pq.queue_offset_max if pq.cached_count else 0,
        cached_msg_count=pq.cached_count,
        cached_msg_size_in_mib=pq.cached_bytes // (1024 * 1024),
        locked=pq.locked,
        last_lock_timestamp=int((pq.last_lock_timestamp + to_ms) * 1000) if pq.last_lock_timestamp else 0,
        droped=pq.dropped,
        last_pull_timestamp=int((pq.last_pull_timestamp + to_ms) * 1000),
        last_consume_timestamp=int((pq.last_consume_timestamp + to_ms) * 1000),
    )


def build_running_info(
    data: ConsumerData, properties: dict[str, str], queues: dict[MessageQueue, tuple[ProcessQueue, int]]
) -> ConsumerRunningInfo:
    subs = [sub.to_json() for sub in data.subscriptions]
    props = {
        "PROP_CONSUME_TYPE": data.consume_type,
        "PROP_CONSUMER_START_TIMESTAMP": properties.pop("start_timestamp", "0"),
        "messageModel": data.message_model,
        "consumeFromWhere": data.consume_from_where,
        **properties,
    }
    table = {
        (mq.topic, mq.broker_name, mq.queue_id): process_queue_info(pq, c) for mq, (pq, c) in queues.items()
    }
    return ConsumerRunningInfo(props, subs, table)
