"""An orderly listener's per-call pause: returning ``SuspendCurrentQueue(d)`` suspends the queue for
``d`` seconds instead of ``ConsumerConfig.suspend_current_queue_time`` (Java's
``ConsumeOrderlyContext.setSuspendCurrentQueueTimeMillis``)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from broker_core.message.model import Message, MessageExt
from rocketmq_integration.client import (
    ConsumeResult,
    ListenerKind,
    ListenerResult,
    Producer,
    PushConsumer,
    SuspendCurrentQueue,
)
from tests.integration.client.helpers import CLIENT, CONSUMER, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture
def broker_conf() -> dict[str, str | int | bool]:
    # the concurrent retry (level 3) after 1 s instead of 10 s
    return {"messageDelayLevel": "1s 1s 1s 1s 1s 1s 1s 1s"}


def test_orderly_listener_picks_its_suspend_duration(cluster: Cluster) -> None:
    topic, group = unique("OrdPause"), unique("ordpg")
    # the default pause is far longer than the per-call ones, so the measured gaps are unambiguous
    cfg = dataclasses.replace(CONSUMER, suspend_current_queue_time=10.0)

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 1)
        log: list[tuple[int, int, float]] = []  # (idx, reconsume_times, call start)
        done = asyncio.Event()

        async def listener(msgs: list[MessageExt]) -> ListenerResult:
            idx, times = int(msgs[0].properties["idx"]), msgs[0].reconsume_times
            log.append((idx, times, time.monotonic()))
            if idx == 2:
                done.set()
            if idx == 1 and times == 0:
                return SuspendCurrentQueue(0.2)
            if idx == 1 and times == 1:
                return SuspendCurrentQueue(0.0)
            return ConsumeResult.SUCCESS

        consumer = PushConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=cfg)
        consumer.subscribe(topic)
        consumer.register_listener(listener, ListenerKind.ORDERLY)
        async with consumer:
            async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                for i in range(3):  # one queue: stored in this order
                    await p.send(Message(topic, f"m{i}".encode(), properties={"idx": str(i)}))
            await asyncio.wait_for(done.wait(), 30)
        assert [(i, r) for i, r, _ in log] == [(0, 0), (1, 0), (1, 1), (1, 2), (2, 0)]
        first_pause = log[2][2] - log[1][2]
        second_pause = log[3][2] - log[2][2]
        assert 0.15 <= first_pause < 3.0, f"SuspendCurrentQueue(0.2) paused {first_pause:.2f}s (default 10 s)"
        assert second_pause < 3.0, f"SuspendCurrentQueue(0.0) paused {second_pause:.2f}s (default 10 s)"

    run(scenario())


def test_concurrent_listener_treats_suspend_current_queue_as_reconsume_later(cluster: Cluster) -> None:
    topic, group = unique("ConcPause"), unique("concpg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 1)
        seen: list[int] = []
        redelivered = asyncio.Event()

        async def listener(msgs: list[MessageExt]) -> ListenerResult:
            seen.append(msgs[0].reconsume_times)
            if msgs[0].reconsume_times == 0:
                return SuspendCurrentQueue(0.1)
            redelivered.set()
            return ConsumeResult.SUCCESS

        consumer = PushConsumer(
            group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic)
        consumer.register_listener(listener)
        async with consumer:
            async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                await p.send(Message(topic, b"x"))
            await asyncio.wait_for(redelivered.wait(), 60)
        assert seen == [0, 1]  # sent back to %RETRY% and redelivered, as RECONSUME_LATER

    run(scenario())
