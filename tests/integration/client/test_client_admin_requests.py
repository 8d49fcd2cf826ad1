"""Broker-forwarded requests our consumer answers: running info, consume directly, offset reset."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from broker_core.message.model import Message
from broker_core.remoting.body.client_info import CMResult, ConsumeMessageDirectlyResult, ConsumerRunningInfo
from broker_core.remoting.codes import RequestCode, ResponseCode
from rocketmq_integration.client import ListenerKind, Producer, PushConsumer
from rocketmq_integration.client.mq_client import MQClientInstance
from tests.integration.client.helpers import CLIENT, CONSUMER, Collector, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_running_info_consume_directly_and_reset(cluster: Cluster) -> None:
    topic, group = unique("AdminReq"), unique("admg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 2)
        collector = Collector(10)
        consumer = PushConsumer(
            group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic)
        consumer.register_listener(collector, ListenerKind.ORDERLY)
        admin = MQClientInstance.acquire(
            dataclasses.replace(CLIENT, namesrv_addr=cluster.namesrv_addr), "adm"
        )
        try:
            async with consumer:
                async with Producer(
                    unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
                ) as p:
                    sent = [await p.send(Message(topic, b"x", properties={"idx": str(i)})) for i in range(10)]
                await collector.wait(30)
                addr = cluster.broker_addr

                async def call(code: int, ext: dict[str, str]) -> bytes:
                    resp = await admin.api.invoke(addr, admin.api.request(code, ext), 10)
                    assert resp.code == ResponseCode.SUCCESS, resp.remark
                    return resp.body or b""

                info = ConsumerRunningInfo.decode(
                    await call(
                        RequestCode.GET_CONSUMER_RUNNING_INFO,
                        {"consumerGroup": group, "clientId": consumer.client_id, "jstackEnable": "false"},
                    )
                )
                assert info.properties["PROP_CONSUMEORDERLY"] == "true"
                assert info.properties["PROP_CONSUME_TYPE"] == "CONSUME_PASSIVELY"
                assert {s["topic"] for s in info.subscriptions} >= {topic}
                mine = {mq: pqi for mq, pqi in info.mq_table.items() if mq[0] == topic}
                assert len(mine) == 2 and all(pqi.locked for pqi in mine.values())
                assert sum(pqi.commit_offset for pqi in mine.values()) == 10

                before = collector.deliveries
                direct = ConsumeMessageDirectlyResult.decode(
                    await call(
                        RequestCode.CONSUME_MESSAGE_DIRECTLY,
                        {
                            "consumerGroup": group,
                            "clientId": consumer.client_id,
                            "msgId": sent[3].offset_msg_id,
                        },
                    )
                )
                assert direct.consume_result is CMResult.CR_SUCCESS and direct.order
                assert collector.deliveries == before + 1

                # reset to the beginning: every message is consumed once more
                collector.done.clear()
                collector.by_idx.clear()
                await call(
                    RequestCode.INVOKE_BROKER_TO_RESET_OFFSET,
                    {"topic": topic, "group": group, "timestamp": "0", "isForce": "true"},
                )
                await collector.wait(30)
                assert sorted(collector.by_idx) == list(range(10))
                for _ in range(50):
                    if sum(consumer.consumer_offsets(topic).values()) == 10:
                        break
                    await asyncio.sleep(0.1)
                assert sum(consumer.consumer_offsets(topic).values()) == 10
        finally:
            await admin.release()

    run(scenario())
