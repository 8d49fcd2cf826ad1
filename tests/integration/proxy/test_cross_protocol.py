"""One store, two protocols: 1,000 messages 5.x client -> our 4.x client, and 1,000 back, properties intact."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from rocketmq_integration.client import Message, Producer, PushConsumer, SendStatus
from tests.integration.client.helpers import CLIENT, CONSUMER, Collector, run, unique
from tests.integration.proxy.conftest import ProxyCluster
from tests.integration.proxy.test_rmq5_basic import receive_all
from tests.support.cpp import CppRunner
from tests.support.rmq5 import Rmq5Client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
N = 1000


def test_thousand_sent_by_5x_client_consumed_over_remoting(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]
) -> None:
    topic = proxy_cluster.topic("X5to4")
    producer = rmq5()
    producer.call("producer", topics=[topic])
    specs = [
        {
            "topic": topic, "body": f"body-{i}", "tag": f"T{i % 3}", "keys": [f"key-{i}"],
            "props": {"idx": str(i)}, **({"group": f"g{i % 5}"} if i % 2 else {}),
        }
        for i in range(N)
    ]  # fmt: skip
    ids = producer.call("send_async", messages=specs, timeout=240)["ids"]
    assert len(set(ids)) == N

    collector = Collector(N)

    async def consume() -> None:
        consumer = PushConsumer(
            unique("cgx"), namesrv_addr=proxy_cluster.namesrv.addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic)
        consumer.register_listener(collector)
        async with consumer:
            await collector.wait(120)

    run(consume(), timeout=180)
    assert sorted(collector.by_idx) == list(range(N))
    for i in (0, 1, 7, N - 1):
        got = collector.by_idx[i]
        assert got.body == f"body-{i}".encode()
        assert got.tags == f"T{i % 3}"
        assert got.keys == f"key-{i}"
        assert got.msg_id == ids[i]  # the 5.x message id is the UNIQ_KEY
        assert got.properties.get("__SHARDINGKEY") == (f"g{i % 5}" if i % 2 else None)


def test_thousand_sent_over_remoting_received_by_5x_simple_consumer(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]
) -> None:
    topic = proxy_cluster.topic("X4to5")
    sent: dict[str, int] = {}

    async def produce() -> None:
        async with Producer(
            unique("pgx"), namesrv_addr=proxy_cluster.namesrv.addr, client_config=CLIENT
        ) as p:
            sem = asyncio.Semaphore(64)

            async def one(i: int) -> None:
                msg = Message(topic, f"body-{i}".encode(), properties={"idx": str(i)})
                msg.tags = f"T{i % 3}"
                msg.keys = [f"key-{i}", "all"]
                if i % 2:
                    msg.properties["__SHARDINGKEY"] = f"g{i % 5}"
                async with sem:
                    result = await p.send(msg)
                assert result.status is SendStatus.SEND_OK
                sent[result.msg_id] = i

            await asyncio.gather(*(one(i) for i in range(N)))

    run(produce(), timeout=180)
    consumer = rmq5()
    consumer.call("simple", group="GX4to5", topic=topic)
    got = receive_all(consumer, N, rounds=200)
    assert len(got) == N
    assert {m["id"] for m in got} == set(sent)
    for m in got:
        i = sent[m["id"]]
        assert m["body"] == f"body-{i}"
        assert m["tag"] == f"T{i % 3}"
        assert m["keys"] == sorted([f"key-{i}", "all"])
        assert m["props"] == {"idx": str(i)}
        assert m["group"] == (f"g{i % 5}" if i % 2 else None)
        assert not m["corrupted"]


@pytest.mark.interop
def test_sent_by_5x_client_consumed_by_cpp_client(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client], cpp: CppRunner
) -> None:
    topic = proxy_cluster.topic("X5toCpp", queues=2)
    consumer = cpp.start(
        "consume", namesrv=proxy_cluster.namesrv.addr, topic=topic, group=unique("cpp_cgx"), expect=100,
        timeout=120, property_keys="idx,__SHARDINGKEY",
    )  # fmt: skip
    consumer.wait_for_event("started", timeout=60)
    producer = rmq5()
    producer.call("producer", topics=[topic])
    specs = [
        {"topic": topic, "body": f"c{i}", "tag": "TagC", "keys": [f"ck{i}"], "props": {"idx": str(i)},
         **({"group": "gc"} if i % 2 else {})}
        for i in range(100)
    ]  # fmt: skip
    ids = producer.call("send_async", messages=specs, timeout=120)["ids"]
    consumed = consumer.wait(240)
    assert consumed.returncode == 0, consumed.describe()
    by_idx = {int(m["properties"]["idx"]): m for m in consumed.messages if m["action"] == "success"}
    assert sorted(by_idx) == list(range(100))
    for i, m in by_idx.items():
        assert m["body"] == f"c{i}" and m["tags"] == "TagC" and m["keys"] == f"ck{i}"
        assert m["properties"].get("UNIQ_KEY") == ids[i]
        assert m["properties"].get("__SHARDINGKEY") == ("gc" if i % 2 else None)
