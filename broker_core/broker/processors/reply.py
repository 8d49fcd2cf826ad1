"""SEND_REPLY_MESSAGE (324) / SEND_REPLY_MESSAGE_V2 (325): request-reply (remoting spec 4.1, 5.2).

A consumer answers a request message by sending a reply (``MSG_TYPE=reply``) that carries the
request's ``CORRELATION_ID`` and ``REPLY_TO_CLIENT`` (the requester's client id). The broker pushes
it at once to that client's connection with PUSH_REPLY_MESSAGE_TO_CLIENT (326) and, when
``storeReplyMessageEnable`` (default true), also stores it in the reply topic. The push is what the
requester waits on; a requester that is gone makes the reply fail only if it was not stored either.
"""

from __future__ import annotations

import time

from broker_core.broker.context import BrokerContext
from broker_core.logsetup import get_logger
from broker_core.message.model import BrokerMessage
from broker_core.message.properties import MessageConst, append_property, decode_properties, tags_hash_code
from broker_core.remoting.channel import Channel
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.headers.base import HeaderError
from broker_core.remoting.headers.reply import ReplyMessageRequestHeader
from broker_core.remoting.headers.send import SendMessageRequestHeader

log = get_logger(__name__)

PUSH_TIMEOUT_S = 3.0


class ReplyProcessor:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register((RequestCode.SEND_REPLY_MESSAGE, RequestCode.SEND_REPLY_MESSAGE_V2), self)

    def find_client(self, client_id: str) -> Channel | None:
        """The open connection of a client id, from the producer then the consumer tables."""
        tables = [
            *self.ctx.producers.groups.values(),
            *(g.channels for g in self.ctx.consumers.groups.values()),
        ]
        for members in tables:
            for ch, info in members.items():
                if info.client_id == client_id and ch.is_open:
                    return ch
        return None

    async def __call__(self, request: RemotingCommand, channel: Channel) -> RemotingCommand:
        try:
            h = SendMessageRequestHeader.from_request(request.code, request.ext_fields)
        except HeaderError as exc:
            return request.make_response(ResponseCode.SYSTEM_ERROR, str(exc))
        props_str = h.properties or ""
        props = decode_properties(props_str)
        now = int(time.time() * 1000)
        props_str = append_property(props_str, MessageConst.PUSH_REPLY_TIME, str(now))
        body = request.body or b""
        queue_id = max(h.queue_id, 0)
        pushed, why = await self._push(
            h, props_str, body, channel, props.get(MessageConst.REPLY_TO_CLIENT), now
        )
        ext: dict[str, str] = {"queueId": str(queue_id), "queueOffset": "0", "msgId": ""}
        stored = False
        if self.ctx.config.store_reply_message_enable and self.ctx.topics.get(h.topic) is not None:
            host, _, port = channel.remote_addr.rpartition(":")
            msg = BrokerMessage(
                topic=h.topic, queue_id=queue_id, body=body, properties_str=props_str, flag=h.flag,
                tags_code=tags_hash_code(props.get(MessageConst.TAGS)), sys_flag=h.sys_flag,
                born_timestamp=h.born_timestamp, born_host=(host, int(port) if port.isdigit() else 0),
                store_host=self.ctx.store_host, reconsume_times=h.reconsume_times or 0,
            )  # fmt: skip
            result = await self.ctx.store.put_message(msg)
            if result.ok and result.append_result is not None:
                stored = True
                ext["msgId"] = result.append_result.msg_id
                ext["queueOffset"] = str(result.append_result.logics_offset)
        if not pushed and not stored:
            return request.make_response(ResponseCode.SYSTEM_ERROR, f"push reply message failed: {why}")
        return request.make_response(
            ResponseCode.SUCCESS, None if pushed else f"reply stored only: {why}", ext
        )

    async def _push(
        self,
        h: SendMessageRequestHeader,
        props_str: str,
        body: bytes,
        channel: Channel,
        client_id: str | None,
        now: int,
    ) -> tuple[bool, str]:
        if not client_id:
            return False, "the reply has no REPLY_TO_CLIENT property"
        target = self.find_client(client_id)
        if target is None:
            return False, f"requesting client {client_id} is not connected to this broker"
        header = ReplyMessageRequestHeader(
            producer_group=h.producer_group, topic=h.topic, default_topic=h.default_topic,
            default_topic_queue_nums=h.default_topic_queue_nums, queue_id=h.queue_id, sys_flag=h.sys_flag,
            born_timestamp=h.born_timestamp, flag=h.flag, born_host=channel.remote_addr,
            store_host=self.ctx.config.broker_addr, store_timestamp=now, properties=props_str,
            reconsume_times=h.reconsume_times, unit_mode=h.unit_mode,
        )  # fmt: skip
        push = RemotingCommand.request(RequestCode.PUSH_REPLY_MESSAGE_TO_CLIENT, header.to_ext_fields(), body)
        try:
            resp = await target.invoke(push, PUSH_TIMEOUT_S)
        except Exception as exc:
            return False, f"push to {client_id} failed: {exc}"
        if resp.code != ResponseCode.SUCCESS:
            return False, f"client {client_id} answered {resp.code}: {resp.remark}"
        return True, ""
