"""Request-reply over RocketMQ (Java ``DefaultMQProducer.request`` / ``MessageUtil.createReplyMessage``).

The requester stamps its message with ``CORRELATION_ID`` (a fresh UUID), ``REPLY_TO_CLIENT`` (its
client id) and ``TTL`` (the timeout in ms) and waits. A consumer of the request answers with
:func:`reply`, which sends a ``MSG_TYPE=reply`` message to ``<cluster>_REPLY_TOPIC`` with
SEND_REPLY_MESSAGE_V2; the broker pushes it to the requester's connection with
PUSH_REPLY_MESSAGE_TO_CLIENT, where :class:`ReplyFutureTable` (installed on every
:class:`~rocketmq_integration.client.mq_client.MQClientInstance`) completes the waiting request.

The broker finds the requester through the producer table filled by heartbeats, so
:func:`request` heartbeats to any broker it has not heartbeated to yet before sending.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

from broker_core.message.model import Message, MessageExt
from broker_core.message.properties import MessageConst, decode_properties
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.reply import ReplyMessageRequestHeader
from rocketmq_integration.errors import MQClientError
from rocketmq_integration.logging import get_logger

if TYPE_CHECKING:
    from rocketmq_integration.client.producer import Producer
    from rocketmq_integration.client.results import SendResult

__all__ = ["ReplyFutureTable", "RequestTimeoutError", "reply", "request"]

log = get_logger(__name__)


class RequestTimeoutError(MQClientError):
    """No reply arrived within the request's timeout."""


def _host(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host, int(port)) if port.isdigit() else (text, 0)


class ReplyFutureTable:
    """Pending requests by correlation id; the PUSH_REPLY_MESSAGE_TO_CLIENT handler completes them."""

    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[MessageExt]] = {}
        self.heartbeated: set[str] = set()

    def create(self, correlation_id: str) -> asyncio.Future[MessageExt]:
        fut: asyncio.Future[MessageExt] = asyncio.get_running_loop().create_future()
        self._futures[correlation_id] = fut
        return fut

    def discard(self, correlation_id: str) -> None:
        self._futures.pop(correlation_id, None)

    def on_push_reply(self, cmd: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = ReplyMessageRequestHeader.from_ext_fields(cmd.ext_fields)
        except HeaderError as exc:
            return cmd.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        props = decode_properties(h.properties or "")
        msg = MessageExt(
            topic=h.topic, queue_id=h.queue_id, queue_offset=0, commit_log_offset=0, store_size=0, body_crc=0,
            flag=h.flag, sys_flag=h.sys_flag, born_timestamp=h.born_timestamp, born_host=_host(h.born_host),
            store_timestamp=h.store_timestamp, store_host=_host(h.store_host),
            reconsume_times=h.reconsume_times or 0, prepared_transaction_offset=0, body=cmd.body or b"",
            properties=props,
        )  # fmt: skip
        fut = self._futures.pop(props.get(MessageConst.CORRELATION_ID, ""), None)
        if fut is None:
            log.warning(
                "reply for an unknown or timed-out request", correlation_id=props.get("CORRELATION_ID")
            )
        elif not fut.done():
            fut.set_result(msg)
        return cmd.make_response(ResponseCode.SUCCESS, None)


async def request(producer: Producer, msg: Message, timeout: float = 3.0) -> MessageExt:
    """Send ``msg`` and return the reply message.

    Raises:
        RequestTimeoutError: no reply within ``timeout`` seconds.
        MQBrokerError / RemotingError / MQClientError: the send itself failed.
    """
    client = producer.client
    deadline = time.monotonic() + timeout
    await client.update_route(msg.topic)
    if not set(client.all_broker_addrs().values()) <= client.reply_futures.heartbeated:
        await client.send_heartbeat_to_all_brokers()
        client.reply_futures.heartbeated.update(client.all_broker_addrs().values())
    correlation_id = str(uuid.uuid4())
    msg.properties[MessageConst.CORRELATION_ID] = correlation_id
    msg.properties[MessageConst.REPLY_TO_CLIENT] = client.client_id
    msg.properties[MessageConst.TTL] = str(int(timeout * 1000))
    fut = client.reply_futures.create(correlation_id)
    try:
        await producer.send(msg, max(0.001, deadline - time.monotonic()))
        return await asyncio.wait_for(fut, max(0.001, deadline - time.monotonic()))
    except TimeoutError:
        raise RequestTimeoutError(f"no reply to request {correlation_id} within {timeout}s") from None
    finally:
        client.reply_futures.discard(correlation_id)


async def reply(
    producer: Producer,
    request_msg: MessageExt,
    body: bytes,
    properties: dict[str, str] | None = None,
    timeout: float | None = None,
) -> SendResult:
    """Answer a request message (send the reply with SEND_REPLY_MESSAGE_V2)."""
    props = request_msg.properties
    cluster = props.get(MessageConst.CLUSTER)
    reply_to = props.get(MessageConst.REPLY_TO_CLIENT)
    correlation_id = props.get(MessageConst.CORRELATION_ID)
    if not cluster or not reply_to or not correlation_id:
        raise MQClientError("not a request message: CLUSTER, REPLY_TO_CLIENT or CORRELATION_ID is missing")
    out = Message(f"{cluster}_REPLY_TOPIC", body, properties=dict(properties or {}))
    out.properties[MessageConst.CORRELATION_ID] = correlation_id
    out.properties[MessageConst.REPLY_TO_CLIENT] = reply_to
    out.properties[MessageConst.TTL] = props.get(MessageConst.TTL, "3000")
    out.properties[MessageConst.MSG_TYPE] = MessageConst.REPLY_MESSAGE_FLAG
    prepared = producer._prepare(out)._replace(code=RequestCode.SEND_REPLY_MESSAGE_V2)
    return await producer._send_with_retries(prepared, timeout)
