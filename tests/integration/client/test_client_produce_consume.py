"""Producer -> broker -> PushConsumer over loopback against real server subprocesses."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from rocketmq_integration.client import (
    Admin,
    ConsumeResult,
    Message,
    MessageExt,
    MessageModel,
    Producer,
    PushConsumer,
    SendStatus,
)
from tests.integration.client.helpers import (
    CLIENT,
    CONSUMER,
    Collector,
    assert_same_content,
    create_topic,
    run,
    to_message,
    unique,
)
from tests.support.cluster import Cluster
from tests.support.payloads import make_message

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_thousand_messages_round_trip(cluster: Cluster) -> None:
    topic, run_id = unique("RoundTrip"), "rt"

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic)
        async with Producer(
            unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
        ) as producer:
            sem = asyncio.Semaphore(64)

            async def send(i: int) -> None:
                async with sem:
                    result = await producer.send(to_message(topic, make_message(i, run_id)))
                    assert result.status is SendStatus.SEND_OK
                    assert len(result.msg_id) == 32 and result.offset_msg_id

            await asyncio.gather(*(send(i) for i in range(1000)))
        collector = Collector(1000)
        consumer = PushConsumer(
            unique("cg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic)
        consumer.register_listener(collector)
        async with consumer:
            await collector.wait(90.0)
        assert sorted(collector.by_idx) == list(range(1000))
        for msg in collector.by_idx.values():
            assert msg.topic == topic
            assert_same_content(msg, run_id)

    run(scenario(), 170.0)


def test_batch_oneway_and_auto_created_topic(cluster: Cluster) -> None:
    topic = unique("BatchOneway")
    auto_topic = unique("AutoCreated")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic)
        async with Producer(
            unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
        ) as producer:
            batch = [to_message(topic, make_message(i, "b")) for i in range(10)]
            result = await producer.send_batch(batch)
            assert result.status is SendStatus.SEND_OK
            assert result.msg_id.split(",") == [m.uniq_key for m in batch]
            for i in range(10, 30):
                await producer.send_oneway(to_message(topic, make_message(i, "b")))
            # unknown topic: sent through the TBW102 template route, created by the broker
            auto = await producer.send(Message(auto_topic, b"first message"))
            assert auto.status is SendStatus.SEND_OK
        collector = Collector(30)
        consumer = PushConsumer(
            unique("cg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic)
        consumer.register_listener(collector)
        async with consumer:
            await collector.wait()
        assert sorted(collector.by_idx) == list(range(30))
        for msg in collector.by_idx.values():
            assert_same_content(msg, "b")

    run(scenario())


def test_tag_filter(cluster: Cluster) -> None:
    topic = unique("Tags")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic)
        async with Producer(
            unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
        ) as producer:
            for i in range(30):  # tags cycle TagA, TagB, TagC
                await producer.send(to_message(topic, make_message(i, "t", ("A", "B", "C"))))
            await producer.send(Message(topic, b"no tag at all", properties={"idx": "999"}))
        collector = Collector(20)
        consumer = PushConsumer(
            unique("cg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic, "A || C")
        consumer.register_listener(collector)
        async with consumer:
            await collector.wait()
            await asyncio.sleep(0.5)  # give a wrongly delivered B a chance to show up
        assert sorted(collector.by_idx) == [i for i in range(30) if i % 3 != 1]
        assert {m.tags for m in collector.by_idx.values()} == {"A", "C"}

    run(scenario())


def test_two_consumers_split_queues(cluster: Cluster) -> None:
    topic, group = unique("Split"), unique("cg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, queues=4)
        seen: list[str] = []

        async def listener(msgs: list[MessageExt]) -> ConsumeResult:
            seen.extend(m.properties["n"] for m in msgs)
            return ConsumeResult.SUCCESS

        consumers = []
        for _ in range(2):
            c = PushConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER)
            c.subscribe(topic)
            c.register_listener(listener)
            await c.start()
            consumers.append(c)
        try:
            for _ in range(200):  # until NOTIFY_CONSUMER_IDS_CHANGED / periodic rebalance converged
                own = [{mq for mq in c.assigned_queues() if mq.topic == topic} for c in consumers]
                if all(len(o) == 2 for o in own) and not own[0] & own[1]:
                    break
                await asyncio.sleep(0.1)
            assert [len(o) for o in own] == [2, 2] and not own[0] & own[1]
            async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                for i in range(40):
                    await p.send(Message(topic, b"x", properties={"n": str(i)}))
            for _ in range(300):
                if len(set(seen)) == 40:
                    break
                await asyncio.sleep(0.1)
            assert sorted(set(seen), key=int) == [str(i) for i in range(40)]
        finally:
            for c in consumers:
                await c.shutdown()

    run(scenario())


def test_offsets_survive_restart(cluster: Cluster) -> None:
    topic, group = unique("Restart"), unique("cg")

    async def produce(lo: int, hi: int) -> None:
        async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
            for i in range(lo, hi):
                await p.send(Message(topic, f"m{i}".encode(), properties={"idx": str(i)}))

    async def consume(expected: int, extra_wait: float) -> Collector:
        collector = Collector(expected)
        c = PushConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER)
        c.subscribe(topic)
        c.register_listener(collector)
        async with c:
            await collector.wait()
            await asyncio.sleep(extra_wait)
        return collector

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic)
        await produce(0, 50)
        first = await consume(50, 0.0)
        assert sorted(first.by_idx) == list(range(50))
        async with Admin(cluster.namesrv_addr) as admin:
            committed = 0
            for mq in await admin.message_queues(topic):
                committed += await admin.query_consumer_offset(group, mq) or 0
            assert committed == 50  # shutdown committed synchronously
        await produce(50, 80)
        second = await consume(30, 1.0)
        assert set(second.by_idx) == set(range(50, 80))  # nothing from the first run again

    run(scenario(), 170.0)


def test_broadcasting_every_consumer_gets_everything(cluster: Cluster, tmp_path: Path) -> None:
    topic, group = unique("Broadcast"), unique("cg")
    cfg = dataclasses.replace(CONSUMER, message_model=MessageModel.BROADCASTING, offset_store_dir=tmp_path)

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic)
        collectors = [Collector(20), Collector(20)]
        consumers = []
        for i, col in enumerate(collectors):
            cc = dataclasses.replace(CLIENT, instance_name=f"bc{i}")  # distinct local offset files
            c = PushConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=cc, config=cfg)
            c.subscribe(topic)
            c.register_listener(col)
            await c.start()
            consumers.append(c)
        try:
            for _ in range(100):
                if all(len(c.assigned_queues()) == 4 for c in consumers):
                    break
                await asyncio.sleep(0.1)
            async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                for i in range(20):
                    await p.send(Message(topic, b"b", properties={"idx": str(i)}))
            for col in collectors:
                await col.wait()
        finally:
            for c in consumers:
                await c.shutdown()
        for col in collectors:
            assert sorted(col.by_idx) == list(range(20))
        assert len(list(tmp_path.glob("*/*/offsets.json"))) == 2

    run(scenario())
