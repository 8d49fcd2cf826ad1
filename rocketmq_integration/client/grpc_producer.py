"""A producer over the 5.x gRPC protocol (the ``grpc`` access channel), for gRPC-only endpoints.

Managed RocketMQ 5.x services often expose only the proxy's gRPC port. :class:`GrpcProducer`
speaks ``apache.rocketmq.v2.MessagingService`` (``SendMessage``) to such an endpoint — ours is
``python -m broker_core proxy`` — with the send API of :class:`~rocketmq_integration.client.Producer`
(``send``, ``send_orderly``, ``send_batch``, ``send_oneway``), so the template can use either:

    RocketMQTemplate("pg", access_channel="grpc", endpoints="127.0.0.1:8081")

Mapping of a :class:`Message`: ``TAGS`` -> tag, ``KEYS`` -> keys, the sharding key of
``send_orderly`` -> message group (FIFO), ``DELAY`` level / ``TIMER_DELIVER_MS`` / ``TIMER_DELAY_SEC``
-> delivery timestamp, other properties -> user properties. Not available over gRPC (they raise
:class:`~rocketmq_integration.errors.MQClientError`): ``send_to_queue``, request-reply and
anything else that needs the remoting client instance. Needs the ``proxy`` extra (grpcio, protobuf).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from broker_core.config.store import parse_delay_levels
from broker_core.message.model import Message, MessageQueue
from broker_core.message.msg_id import UniqIdGenerator
from broker_core.message.properties import MessageConst
from rocketmq_integration.client.config import ClientConfig, ProducerConfig
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.results import SendResult, SendStatus
from rocketmq_integration.client.validation import ServiceState
from rocketmq_integration.errors import MQBrokerError, MQClientError

__all__ = ["GrpcProducer"]

_DEFAULT_DELAY_LEVELS = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
#: properties that map onto v2 system properties (never sent as user properties)
_SYSTEM = MessageConst.SYSTEM_KEYS | {
    MessageConst.SHARDING_KEY,
    MessageConst.START_DELIVER_TIME,
    MessageConst.TIMER_DELIVER_MS,
    MessageConst.TIMER_DELAY_SEC,
    MessageConst.TIMER_DELAY_MS,
}


class GrpcProducer(Producer):
    """See the module docstring. ``endpoints``: ``host:port`` of the gRPC proxy."""

    def __init__(
        self,
        group: str,
        *,
        endpoints: str,
        client_config: ClientConfig | None = None,
        config: ProducerConfig | None = None,
    ) -> None:
        super().__init__(group, client_config=client_config, config=config)
        self.endpoints = endpoints
        self._channel: Any = None
        self._stub: Any = None
        self._ids = UniqIdGenerator()
        self._delays = parse_delay_levels(_DEFAULT_DELAY_LEVELS)

    @property
    def client(self) -> Any:
        raise MQClientError("not available over the gRPC access channel (no remoting client instance)")

    async def start(self) -> None:
        try:
            import grpc

            from broker_core.proxy.v2 import service_pb2_grpc as rpc
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise MQClientError("the grpc access channel needs the 'proxy' extra (grpcio, protobuf)") from exc
        if self.state is not ServiceState.CREATE_JUST:
            raise MQClientError(f"producer {self.group} was already started (state {self.state.value})")
        self._channel = grpc.aio.insecure_channel(self.endpoints)
        self._stub = rpc.MessagingServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self.state = ServiceState.RUNNING

    async def shutdown(self) -> None:
        self.state = ServiceState.SHUTDOWN_ALREADY
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    # ------------------------------------------------------------------ conversion
    def _v2(self, msg: Message, group: str | None = None) -> Any:
        from broker_core.proxy.v2 import definition_pb2 as pb

        props = msg.properties
        out = pb.Message(body=msg.body)
        out.topic.name = msg.topic
        sp = out.system_properties
        sp.message_id = props.get(MessageConst.UNIQ_KEY) or self._ids.create()
        sp.born_timestamp.GetCurrentTime()
        sp.body_encoding = pb.IDENTITY
        if (tag := props.get(MessageConst.TAGS)) is not None:
            sp.tag = tag
        if keys := props.get(MessageConst.KEYS):
            sp.keys.extend(k for k in keys.split(MessageConst.KEY_SEPARATOR) if k)
        for name, value in props.items():
            if name not in _SYSTEM:
                out.user_properties[name] = value
        group = group or props.get(MessageConst.SHARDING_KEY)
        deliver = self._deliver_ms(props)
        if group is not None:
            sp.message_group = group
            sp.message_type = pb.FIFO
        elif deliver is not None:
            seconds, millis = divmod(deliver, 1000)
            sp.delivery_timestamp.seconds, sp.delivery_timestamp.nanos = seconds, millis * 1_000_000
            sp.message_type = pb.DELAY
        else:
            sp.message_type = pb.NORMAL
        return out

    def _deliver_ms(self, props: dict[str, str]) -> int | None:
        now = int(time.time() * 1000)
        if (at := props.get(MessageConst.TIMER_DELIVER_MS)) and at.isdigit():
            return int(at)
        if (sec := props.get(MessageConst.TIMER_DELAY_SEC)) and sec.isdigit():
            return now + int(sec) * 1000
        if (ms := props.get(MessageConst.TIMER_DELAY_MS)) and ms.isdigit():
            return now + int(ms)
        level = props.get(MessageConst.DELAY)
        if level and level.isdigit() and int(level) > 0:
            return now + self._delays[min(int(level), max(self._delays))]
        return None

    # ------------------------------------------------------------------ sending
    async def _send(
        self, msgs: Sequence[Message], timeout: float | None, group: str | None = None
    ) -> SendResult:
        from broker_core.proxy.v2 import definition_pb2 as pb
        from broker_core.proxy.v2 import service_pb2 as spb

        if self._stub is None:
            raise MQClientError(f"producer {self.group} is not started")
        request = spb.SendMessageRequest(messages=[self._v2(m, group) for m in msgs])
        t = timeout or self.config.send_msg_timeout
        response = await self._stub.SendMessage(request, timeout=t)
        if response.status.code != pb.OK:
            raise MQBrokerError(int(response.status.code), response.status.message, self.endpoints)
        entries = list(response.entries)
        return SendResult(
            status=SendStatus.SEND_OK,
            msg_id=",".join(e.message_id for e in entries),
            offset_msg_id="",
            message_queue=MessageQueue(msgs[0].topic, "", -1),
            queue_offset=entries[0].offset if entries else -1,
        )

    async def send(self, msg: Message, timeout: float | None = None) -> SendResult:
        return await self._send([msg], timeout)

    async def send_batch(self, msgs: Sequence[Message], timeout: float | None = None) -> SendResult:
        if not msgs:
            raise MQClientError("send_batch needs at least one message")
        return await self._send(msgs, timeout)

    async def send_orderly(self, msg: Message, sharding_key: str, timeout: float | None = None) -> SendResult:
        return await self._send([msg], timeout, group=sharding_key)

    async def send_oneway(self, msg: Message) -> None:
        await self._send([msg], None)

    async def send_to_queue(self, msg: Message, mq: MessageQueue, timeout: float | None = None) -> SendResult:
        raise MQClientError("send_to_queue is not available over the gRPC access channel")
