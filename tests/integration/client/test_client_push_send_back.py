"""``PushConsumer.send_back``: the public send-back a framework uses for explicit retry / DLQ levels."""

from __future__ import annotations

import asyncio
import time

import pytest

from broker_core.message.model import Message, MessageExt, MessageQueue
from broker_core.message.properties import MessageConst
from rocketmq_integration.client import ConsumeResult, Producer, PullConsumer, PullStatus, PushConsumer
from rocketmq_integration.errors import MQClientError, NoRouteError
from tests.integration.client.helpers import CLIENT, CONSUMER, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture
def broker_conf() -> dict[str, str | int | bool]:
    # level 3 (the first retry) after 1 s instead of 10 s
    return {"messageDelayLevel": "1s 1s 1s 1s 1s 1s 1s 1s"}


async def _dlq_message(pc: PullConsumer, group: str, timeout: float = 20.0) -> MessageExt:
    """The one message of ``%DLQ%<group>`` (the broker creates that topic, its route comes later)."""
    deadline = time.monotonic() + timeout
    mqs: list[MessageQueue] = []
    while time.monotonic() < deadline:
        try:
            mqs = await pc.fetch_subscribe_message_queues(f"%DLQ%{group}")
        except NoRouteError:
            await asyncio.sleep(0.2)
            continue
        for mq in mqs:
            r = await pc.pull_block_if_not_found(mq, "*", 0, 4, hold=0.5)
            if r.status is PullStatus.FOUND:
                return r.messages[0]
    raise AssertionError(f"nothing in %DLQ%{group} (queues {mqs})")


def test_send_back_before_start_raises() -> None:
    consumer = PushConsumer(unique("sbns"), namesrv_addr="127.0.0.1:1")
    msg = MessageExt(
        topic="T", queue_id=0, queue_offset=0, commit_log_offset=0, store_size=0, body_crc=0, flag=0,
        sys_flag=0, born_timestamp=0, born_host=("127.0.0.1", 1), store_timestamp=0,
        store_host=("127.0.0.1", 2), reconsume_times=0, prepared_transaction_offset=0, body=b"b",
    )  # fmt: skip

    with pytest.raises(MQClientError, match="not started"):
        asyncio.run(consumer.send_back(msg))


def test_send_back_default_level_retries_and_minus_one_dead_letters(cluster: Cluster) -> None:
    topic, group = unique("SendBackApi"), unique("sbg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 1)
        consumer = PushConsumer(
            group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic)
        retried: asyncio.Future[MessageExt] = asyncio.get_running_loop().create_future()

        async def listener(msgs: list[MessageExt]) -> ConsumeResult:
            for m in msgs:
                if m.reconsume_times > 0:
                    if not retried.done():
                        retried.set_result(m)
                elif m.keys == "retry":
                    await consumer.send_back(m)  # level 0: the broker's back-off, %RETRY%<group>
                else:
                    await consumer.send_back(m, -1)  # straight to %DLQ%<group>
            return ConsumeResult.SUCCESS

        consumer.register_listener(listener)
        async with consumer:
            async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                for key in ("retry", "dlq"):
                    msg = Message(topic, key.encode())
                    msg.keys = key
                    await p.send(msg)
            back = await asyncio.wait_for(retried, 30)
        assert back.keys == "retry" and back.topic == topic and back.reconsume_times == 1
        async with PullConsumer(
            unique("dlqr"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
        ) as pc:
            dead = await _dlq_message(pc, group)
        assert dead.keys == "dlq"
        assert dead.properties[MessageConst.RETRY_TOPIC] == topic

    run(scenario())
