"""Prometheus metrics of a consuming process: OK/failed counts, TPS and call time per group/topic."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from broker_core.message.model import Message, MessageExt
from rocketmq_integration.client import PushConsumer
from rocketmq_integration.client.metrics import start_metrics_server
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.results import ConsumeResult
from tests.integration.client.helpers import CLIENT, CONSUMER, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def scrape(port: int, group: str) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.labels.get("group") == group:
                out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def test_listener_process_metrics(cluster: Cluster) -> None:
    port = start_metrics_server(0)
    topic, group = unique("CmT"), unique("CmG")
    attempts: dict[str, int] = {}

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 2)
        consumer = PushConsumer(
            group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic)

        async def listen(msgs: list[MessageExt]) -> ConsumeResult:
            m = msgs[0]
            key = m.properties["idx"]
            attempts[key] = attempts.get(key, 0) + 1
            if int(key) % 4 == 0 and attempts[key] == 1:
                return ConsumeResult.RECONSUME_LATER  # fails once, then succeeds from the retry topic
            return ConsumeResult.SUCCESS

        consumer.register_listener(listen)
        await consumer.start()
        try:
            async with Producer(unique("CmP"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                for i in range(20):
                    await p.send(Message(topic, b"x", properties={"idx": str(i)}))
            for _ in range(600):
                figures = await asyncio.to_thread(scrape, port, group)
                if figures.get("rocketmq_client_consume_ok_msg_total", 0) >= 20:
                    break
                await asyncio.sleep(0.1)
        finally:
            await consumer.shutdown()

    run(scenario(), 150)
    f = scrape(port, group)
    assert f["rocketmq_client_consume_ok_msg_total"] == 20, f
    assert f["rocketmq_client_consume_fail_msg_total"] == 5, f
    assert f["rocketmq_client_consume_fail_msg_count"] == 5, f
    assert f["rocketmq_client_consume_ok_msg_tps"] > 0 and f["rocketmq_client_consume_rt"] >= 0, f
