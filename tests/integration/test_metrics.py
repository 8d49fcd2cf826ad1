"""The broker's Prometheus endpoint: scraped while a known rate flows, producer/consumer TPS and the
group lag are within 10 % of the traffic generated (rocketmq-exporter metric names)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from broker_core.message.model import Message, MessageExt
from rocketmq_integration.client import PushConsumer
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.results import ConsumeResult
from tests.integration.client.helpers import CLIENT, CONSUMER, create_topic, run, unique
from tests.support.cluster import ServerGroup
from tests.support.net import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

RATE = 40.0  # messages per second
SECONDS = 8.0


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    found = [
        v for (n, ls), v in samples.items() if n == name and all((k, w) in ls for k, w in labels.items())
    ]
    assert len(found) == 1, (name, labels, [k for k in samples if k[0] == name])
    return found[0]


def test_metrics_follow_the_traffic(servers: ServerGroup) -> None:
    port = free_port()
    ns = servers.namesrv()
    broker = servers.broker(ns, conf={"metricsPort": str(port)})
    topic, group = unique("MetT"), unique("MetG")
    received: list[MessageExt] = []

    async def scenario() -> dict[str, float]:
        await create_topic(ns.addr, broker.addr, topic, 4)
        consumer = PushConsumer(group, namesrv_addr=ns.addr, client_config=CLIENT,
                                config=dataclasses.replace(CONSUMER, pull_batch_size=8))  # fmt: skip
        consumer.subscribe(topic)

        async def listen(msgs: list[MessageExt]) -> ConsumeResult:
            received.extend(msgs)
            return ConsumeResult.SUCCESS

        consumer.register_listener(listen)
        await consumer.start()
        figures: dict[str, float] = {}
        async with Producer(unique("MetP"), namesrv_addr=ns.addr, client_config=CLIENT) as producer:
            t0 = time.monotonic()
            n = int(RATE * SECONDS)
            for i in range(n):  # paced on an absolute schedule: the offered rate is exactly RATE
                await asyncio.sleep(max(0.0, t0 + i / RATE - time.monotonic()))
                await producer.send(Message(topic, b"m" * 100))
                if i == int(RATE * (SECONDS - 1)):  # scrape while the traffic still flows
                    samples = await asyncio.to_thread(scrape, port)
                    figures["producer_tps"] = value(samples, "rocketmq_producer_tps", topic=topic)
                    figures["producer_size"] = value(samples, "rocketmq_producer_message_size", topic=topic)
                    figures["consumer_tps"] = value(
                        samples, "rocketmq_consumer_tps", topic=topic, group=group
                    )
            for _ in range(300):
                if len(received) >= n:
                    break
                await asyncio.sleep(0.1)
            await consumer.shutdown()  # commits its offsets: the lag from here on is exact
            backlog = 150
            for _ in range(backlog):
                await producer.send(Message(topic, b"late"))
            samples = await asyncio.to_thread(scrape, port)
            figures["lag"] = value(samples, "rocketmq_group_diff", group=group, topic=topic)
            figures["offset"] = value(samples, "rocketmq_producer_offset", topic=topic)
            figures["consumer_offset"] = value(samples, "rocketmq_consumer_offset", topic=topic, group=group)
            figures["sent"] = n + backlog
        return figures

    f = run(scenario(), 150)
    assert abs(f["producer_tps"] - RATE) <= 0.1 * RATE, f
    # bytes per second of stored records: a 100-byte body plus the record header, topic and properties
    assert 100 <= f["producer_size"] / f["producer_tps"] <= 400, f
    assert abs(f["consumer_tps"] - RATE) <= 0.1 * RATE, f
    assert f["lag"] == 150, f
    assert f["offset"] == f["sent"] and f["consumer_offset"] == f["sent"] - 150, f
