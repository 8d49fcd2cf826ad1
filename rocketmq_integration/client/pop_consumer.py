"""POP consumer (5.x ``SimpleConsumer`` semantics over remoting): receive, ack, change invisible time.

The broker keeps the consume position; each received message comes with a *receipt handle* and is
invisible to other receivers for ``invisible_time``. :meth:`PopConsumer.ack` ends it (acks may come
in any order); without an ack the message is delivered again after the invisible time, through the
group's pop retry topic (it then shows its original topic again). A handle changes with
:meth:`PopConsumer.change_invisible_time`, which returns the new one.

    async with PopConsumer("cg", "Orders", namesrv_addr="127.0.0.1:9876") as c:
        for msg, handle in await c.receive(16, invisible_time=30):
            ...
            await c.ack(handle)
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import NamedTuple

from broker_core.message.codec import decode_records
from broker_core.message.model import MessageExt
from broker_core.message.properties import MessageConst
from broker_core.remoting.codes import RequestCode, ResponseCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.headers.pop import (
    NORMAL_MARK,
    RETRY_MARK,
    RETRY_PREFIX,
    AckMessageRequestHeader,
    ChangeInvisibleTimeRequestHeader,
    PopMessageRequestHeader,
    ReceiptHandle,
    ReceiptHandleError,
)
from rocketmq_integration.client.config import DEFAULT_INSTANCE_NAME, ClientConfig, unique_instance_name
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.validation import check_group
from rocketmq_integration.errors import MQBrokerError, MQClientError, NoRouteError

__all__ = ["POP_CK", "PopConsumer", "PoppedMessage"]

#: property holding the receipt handle on a received message (Apache ``MessageConst.PROPERTY_POP_CK``)
POP_CK = "POP_CK"
_EMPTY_CODES = frozenset({209, 210, ResponseCode.NO_MESSAGE, ResponseCode.PULL_NOT_FOUND})


class PoppedMessage(NamedTuple):
    message: MessageExt
    receipt_handle: str


class PopConsumer:
    """See the module docstring. ``expression`` is a tag expression (``*``, ``A || B``)."""

    def __init__(
        self,
        group: str,
        topic: str,
        *,
        namesrv_addr: str | None = None,
        expression: str = "*",
        client_config: ClientConfig | None = None,
        request_timeout: float = 5.0,
    ) -> None:
        check_group(group)
        cc = client_config or ClientConfig()
        self.client_config = dataclasses.replace(cc, namesrv_addr=namesrv_addr) if namesrv_addr else cc
        self.group = group
        self.topic = topic
        self.expression = expression
        self.request_timeout = request_timeout
        self._client: MQClientInstance | None = None
        self._rotation = itertools.count()

    @property
    def client(self) -> MQClientInstance:
        if self._client is None:
            raise MQClientError(f"pop consumer {self.group} is not started")
        return self._client

    async def start(self) -> None:
        if self._client is not None:
            raise MQClientError(f"pop consumer {self.group} was already started")
        name = self.client_config.instance_name
        if name == DEFAULT_INSTANCE_NAME:
            name = unique_instance_name()
        self._client = MQClientInstance.acquire(self.client_config, name)
        await self._client.update_route(self.topic)

    async def shutdown(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.release()

    async def __aenter__(self) -> PopConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ requests
    def _command(self, code: int, ext: dict[str, str]) -> RemotingCommand:
        # POP codes exceed the 16-bit code of the ROCKETMQ header encoding: always JSON
        cmd = RemotingCommand.request(code, ext, serialize_type=SerializeType.JSON)
        cmd.language = self.client_config.language
        return cmd

    async def _brokers(self) -> list[tuple[str, str]]:
        queues = self.client.subscribe_queues(self.topic)
        if not queues:
            await self.client.update_route(self.topic)
            queues = self.client.subscribe_queues(self.topic) or []
        names = sorted({mq.broker_name for mq in queues})
        out = [(n, a) for n in names if (a := self.client.broker_addr(n)) is not None]
        if not out:
            raise NoRouteError(self.topic, f"no broker serves topic {self.topic}")
        return out

    async def _addr_of(self, broker_name: str) -> str:
        addr = self.client.broker_addr(broker_name)
        if addr is None:
            await self.client.update_route(self.topic)
            addr = self.client.broker_addr(broker_name)
        if addr is None:
            raise NoRouteError(self.topic, f"no address for broker {broker_name}")
        return addr

    async def receive(
        self, max_num: int = 16, invisible_time: float = 30.0, poll_time: float = 5.0, init_mode: int = 0
    ) -> list[PoppedMessage]:
        """Pop up to ``max_num`` (1..32) messages, waiting up to ``poll_time`` seconds for one.

        ``init_mode`` applies when the group has no position on a queue yet: 0 starts at the
        queue's first message, 1 at its end (only messages sent from now on).
        """
        brokers = await self._brokers()
        name, addr = brokers[next(self._rotation) % len(brokers)]
        header = PopMessageRequestHeader(
            consumer_group=self.group, topic=self.topic, queue_id=-1, max_msg_nums=max_num,
            invisible_time=int(invisible_time * 1000), poll_time=int(poll_time * 1000),
            born_time=int(time.time() * 1000), init_mode=init_mode, exp_type="TAG", exp=self.expression,
        )  # fmt: skip
        cmd = self._command(RequestCode.POP_MESSAGE, header.to_ext_fields())
        resp = await self.client.api.invoke(addr, cmd, poll_time + self.request_timeout)
        if resp.code in _EMPTY_CODES:
            return []
        self.client.features.not_supported_answer(resp.code, "receive", name, addr)
        if resp.code != ResponseCode.SUCCESS:
            raise MQBrokerError(resp.code, resp.remark, addr)
        ext = resp.ext_fields or {}
        pop_time, invisible = int(ext["popTime"]), int(ext["invisibleTime"])
        revive_qid = int(ext.get("reviveQid", "0"))
        starts: dict[tuple[str, int], int] = {}
        for item in filter(None, ext.get("startOffsetInfo", "").split(";")):
            mark, qid, start = item.split(" ")
            starts[(mark, int(qid))] = int(start)
        out: list[PoppedMessage] = []
        for msg in decode_records(resp.body or b"", decompress=True):
            mark = RETRY_MARK if msg.topic.startswith(RETRY_PREFIX) else NORMAL_MARK
            handle = ReceiptHandle(
                starts.get((mark, msg.queue_id), msg.queue_offset), pop_time, invisible, revive_qid, mark,
                name, msg.queue_id, msg.queue_offset,
            ).encode()  # fmt: skip
            if mark == RETRY_MARK:
                msg.topic = msg.properties.get(MessageConst.RETRY_TOPIC, self.topic)
            msg.properties[POP_CK] = handle
            out.append(PoppedMessage(msg, handle))
        return out

    def _parse(self, receipt_handle: str) -> ReceiptHandle:
        try:
            return ReceiptHandle.parse(receipt_handle)
        except ReceiptHandleError as exc:
            raise MQClientError(str(exc)) from None

    async def ack(self, receipt_handle: str) -> None:
        """Acknowledge one message. Raises MQBrokerError (NO_MESSAGE) if its lease is gone."""
        h = self._parse(receipt_handle)
        addr = await self._addr_of(h.broker_name)
        header = AckMessageRequestHeader(self.group, self.topic, h.queue_id, receipt_handle, h.queue_offset)
        resp = await self.client.api.invoke(
            addr, self._command(RequestCode.ACK_MESSAGE, header.to_ext_fields()), self.request_timeout
        )
        self.client.features.not_supported_answer(resp.code, "ack", h.broker_name, addr)
        if resp.code != ResponseCode.SUCCESS:
            raise MQBrokerError(resp.code, resp.remark, addr)

    async def change_invisible_time(self, receipt_handle: str, invisible_time: float) -> str:
        """Make the message invisible for ``invisible_time`` seconds from now; returns the new handle."""
        h = self._parse(receipt_handle)
        addr = await self._addr_of(h.broker_name)
        header = ChangeInvisibleTimeRequestHeader(
            self.group, self.topic, h.queue_id, receipt_handle, h.queue_offset, int(invisible_time * 1000)
        )
        cmd = self._command(RequestCode.CHANGE_MESSAGE_INVISIBLETIME, header.to_ext_fields())
        resp = await self.client.api.invoke(addr, cmd, self.request_timeout)
        self.client.features.not_supported_answer(resp.code, "change_invisible_duration", h.broker_name, addr)
        if resp.code != ResponseCode.SUCCESS:
            raise MQBrokerError(resp.code, resp.remark, addr)
        ext = resp.ext_fields or {}
        return dataclasses.replace(
            h, pop_time=int(ext["popTime"]), invisible_time=int(ext["invisibleTime"])
        ).encode()
