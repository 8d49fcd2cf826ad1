"""Broadcasting keeps offsets in a local file: a restarted consumer resumes where it stopped."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from broker_core.message.model import Message
from rocketmq_integration.client import MessageModel, Producer, PushConsumer
from tests.integration.client.helpers import CLIENT, CONSUMER, Collector, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_broadcast_restart_resumes_from_local_offsets(cluster: Cluster, tmp_path: Path) -> None:
    topic, group = unique("BcastRestart"), unique("bcg")
    cfg = dataclasses.replace(CONSUMER, message_model=MessageModel.BROADCASTING, offset_store_dir=tmp_path)
    cc = dataclasses.replace(CLIENT, instance_name="bcast-restart")

    async def consume(expected: int, first_idx: int, send: int) -> Collector:
        collector = Collector(expected)
        consumer = PushConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=cc, config=cfg)
        consumer.subscribe(topic)
        consumer.register_listener(collector)
        async with consumer:
            for _ in range(100):
                if len(consumer.assigned_queues()) == 2:
                    break
                await asyncio.sleep(0.1)
            async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                for i in range(first_idx, first_idx + send):
                    await p.send(Message(topic, b"b", properties={"idx": str(i)}))
            await collector.wait(30)
            await asyncio.sleep(0.5)  # anything re-delivered would show up now
        return collector

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 2)
        first = await consume(10, 0, 10)
        assert sorted(first.by_idx) == list(range(10))
        (path,) = tmp_path.glob("*/*/offsets.json")
        table = json.loads(path.read_text())["offsetTable"]
        assert sum(e["offset"] for e in table if e["topic"] == topic) == 10
        second = await consume(5, 10, 5)
        assert sorted(second.by_idx) == list(range(10, 15))  # nothing of the first run again
        assert second.deliveries == 5

    run(scenario())
