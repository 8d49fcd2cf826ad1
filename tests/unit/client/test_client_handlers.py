"""Client-side answers to broker-forwarded requests, without a broker."""

from __future__ import annotations

import asyncio
from typing import Any

from broker_core.message.model import MessageExt, MessageQueue
from broker_core.remoting.body.client_info import (
    CMResult,
    ConsumeMessageDirectlyResult,
    ConsumerRunningInfo,
    ProcessQueueInfo,
    decode_consumer_status,
)
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from rocketmq_integration.client.client_handlers import consume_directly, install
from rocketmq_integration.client.results import ConsumeResult

MQ = MessageQueue("T", "broker-a", 1)


def _msg() -> MessageExt:
    return MessageExt(
        topic="T", queue_id=1, queue_offset=3, commit_log_offset=0, store_size=0, body_crc=0, flag=0,
        sys_flag=0, born_timestamp=0, born_host=("127.0.0.1", 1), store_timestamp=0,
        store_host=("127.0.0.1", 2), reconsume_times=0, prepared_transaction_offset=0, body=b"b",
    )  # fmt: skip


class FakeConsumer:
    def __init__(self) -> None:
        self.reset: list[tuple[str, dict[MessageQueue, int]]] = []

    def running_info(self) -> ConsumerRunningInfo:
        pqi = ProcessQueueInfo(5, 5, 9, 5, 0, True, 1, False, 2, 3)
        return ConsumerRunningInfo({"PROP_CONSUMEORDERLY": "false"}, [], {("T", "broker-a", 1): pqi})

    def consumer_offsets(self, topic: str) -> dict[MessageQueue, int]:
        return {MQ: 17}

    async def reset_offsets(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        self.reset.append((topic, offsets))

    async def consume_message_directly(self, msg: MessageExt) -> ConsumeMessageDirectlyResult:
        return ConsumeMessageDirectlyResult(CMResult.CR_SUCCESS)


class FakeInstance:
    client_id = "c1"

    def __init__(self) -> None:
        self.consumer = FakeConsumer()

    def find_consumer(self, group: str) -> Any:
        return self.consumer if group == "g" else None


def _call(d: Dispatcher, code: int, ext: dict[str, str], body: bytes | None = None) -> Any:
    result = d.lookup(code)(RemotingCommand.request(code, ext, body), None)  # type: ignore[arg-type]
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


def test_handlers_answer_for_known_groups_only() -> None:
    d, inst = Dispatcher(), FakeInstance()
    install(d, inst)  # type: ignore[arg-type]
    resp = _call(d, RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "g", "clientId": "c1"})
    info = ConsumerRunningInfo.decode(resp.body)
    assert info.mq_table[("T", "broker-a", 1)].cached_msg_max_offset == 9
    assert info == FakeConsumer().running_info()
    resp = _call(d, RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, {"topic": "T", "group": "g"})
    assert decode_consumer_status(resp.body) == {("T", "broker-a", 1): 17}
    resp = _call(d, RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "other", "clientId": "c1"})
    assert resp.code == ResponseCode.SYSTEM_ERROR
    body = b'{"offsetTable":{{"brokerName":"broker-a","queueId":1,"topic":"T"}:4}}'
    _call(d, RequestCode.RESET_CONSUMER_CLIENT_OFFSET, {"topic": "T", "group": "g", "timestamp": "0"}, body)
    assert inst.consumer.reset == [("T", {MQ: 4})]


def test_consume_directly_classifies_outcomes() -> None:
    async def ok(msgs: list[MessageExt]) -> ConsumeResult:
        return ConsumeResult.SUCCESS

    def later(msgs: list[MessageExt]) -> ConsumeResult:
        return ConsumeResult.RECONSUME_LATER

    async def boom(msgs: list[MessageExt]) -> ConsumeResult:
        raise RuntimeError("x")

    def none(msgs: list[MessageExt]) -> Any:
        return None

    got = [asyncio.run(consume_directly(fn, _msg(), False)).consume_result for fn in (ok, later, boom, none)]
    assert got == [
        CMResult.CR_SUCCESS,
        CMResult.CR_LATER,
        CMResult.CR_THROW_EXCEPTION,
        CMResult.CR_RETURN_NULL,
    ]
    r = ConsumeMessageDirectlyResult(CMResult.CR_LATER, order=True, remark="r", spent_time_mills=4)
    assert ConsumeMessageDirectlyResult.decode(r.encode()) == r
