"""Orderly local retry and DLQ hand-off, consume timeout, send-back fallback, flow control."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from broker_core.message.model import Message, MessageExt, MessageQueue
from broker_core.message.properties import MessageConst
from rocketmq_integration.client import (
    ConsumeResult,
    ListenerKind,
    Producer,
    PullConsumer,
    PullStatus,
    PushConsumer,
)
from rocketmq_integration.client.mq_client import MQClientInstance
from rocketmq_integration.client.send_back import SendBack
from rocketmq_integration.errors import NoRouteError
from tests.integration.client.helpers import CLIENT, CONSUMER, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def broker_conf() -> dict[str, str | int | bool]:
    # level 3 (the first retry) after 1 s instead of 10 s
    return {"messageDelayLevel": "1s 1s 1s 1s 1s 1s 1s 1s"}


async def _send(cluster: Cluster, topic: str, mq: MessageQueue | None, n: int) -> None:
    async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
        for i in range(n):
            msg = Message(topic, f"m{i}".encode(), properties={"idx": str(i)})
            msg.keys = f"k{i}"
            if mq is None:
                await p.send(msg)
            else:
                await p.send_to_queue(msg, mq)


async def _queues(pc: PullConsumer, topic: str, timeout: float = 20.0) -> list[MessageQueue]:
    """Queues of a topic the broker created itself (its route reaches the NameServer a bit later)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await pc.fetch_subscribe_message_queues(topic)
        except NoRouteError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _pull_all(
    pc: PullConsumer, mqs: list[MessageQueue], want: int, timeout: float = 20.0
) -> list[MessageExt]:
    got: list[MessageExt] = []
    offsets = dict.fromkeys(mqs, 0)
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        for mq in mqs:
            r = await pc.pull_block_if_not_found(mq, "*", offsets[mq], 32, hold=0.5)
            if r.status is PullStatus.FOUND:
                got += r.messages
            offsets[mq] = r.next_begin_offset
    return got


def test_orderly_suspend_retries_locally_then_dead_letters(cluster: Cluster) -> None:
    topic, group = unique("OrdRetry"), unique("ordg")
    cfg = dataclasses.replace(CONSUMER, max_reconsume_times=2, suspend_current_queue_time=0.2)

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 2)
        log: list[tuple[int, int, float, float]] = []
        done = asyncio.Event()
        running = 0

        async def listener(msgs: list[MessageExt]) -> ConsumeResult:
            nonlocal running
            running += 1
            assert running == 1, "two calls of one queue at once"
            start = time.monotonic()
            await asyncio.sleep(0.01)
            idx = int(msgs[0].properties["idx"])
            log.append((idx, msgs[0].reconsume_times, start, time.monotonic()))
            running -= 1
            if idx == 3:
                done.set()
            return ConsumeResult.SUSPEND_CURRENT_QUEUE_A_MOMENT if idx == 1 else ConsumeResult.SUCCESS

        consumer = PushConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=cfg)
        consumer.subscribe(topic)
        consumer.register_listener(listener, ListenerKind.ORDERLY)
        async with consumer:
            mqs = sorted(consumer.process_queues()) or [MessageQueue(topic, "broker-a", 0)]
            await _send(cluster, topic, MessageQueue(topic, mqs[0].broker_name, 0), 4)
            await asyncio.wait_for(done.wait(), 30)
            assert all(pq.locked for pq in consumer.process_queues().values())
        assert [(i, r) for i, r, _, _ in log] == [(0, 0), (1, 0), (1, 1), (1, 2), (2, 0), (3, 0)]
        gaps = [b[2] - a[3] for a, b in zip(log[1:3], log[2:4], strict=True)]
        assert all(g >= 0.15 for g in gaps), f"local retries not suspended: {gaps}"
        async with PullConsumer(
            unique("dlqreader"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
        ) as pc:
            dlq = await _queues(pc, f"%DLQ%{group}")
            got = await _pull_all(pc, dlq, 1)
        assert [m.properties["idx"] for m in got] == ["1"]
        assert got[0].keys == "k1" and got[0].body == b"m1"

    run(scenario())


def test_consume_timeout_sends_back_and_unblocks_commit(cluster: Cluster) -> None:
    topic, group = unique("Timeout"), unique("tog")
    cfg = dataclasses.replace(CONSUMER, consume_timeout=0.02)  # 1.2 s, swept every 0.3 s

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 1)
        seen: list[tuple[int, int]] = []
        redelivered = asyncio.Event()

        async def listener(msgs: list[MessageExt]) -> ConsumeResult:
            m = msgs[0]
            seen.append((int(m.properties["idx"]), m.reconsume_times))
            if m.properties["idx"] == "0" and m.reconsume_times == 0:
                await asyncio.sleep(6)  # hangs far past the consume timeout
            elif m.properties["idx"] == "0":
                redelivered.set()
            return ConsumeResult.SUCCESS

        consumer = PushConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=cfg)
        consumer.subscribe(topic)
        consumer.register_listener(listener)
        async with consumer:
            t0 = time.monotonic()
            await _send(cluster, topic, None, 5)
            await asyncio.wait_for(redelivered.wait(), 15)
            assert time.monotonic() - t0 < 5.5, "redelivered only after the hung call returned"
            pq = next(iter(consumer.process_queues().values()))
            for _ in range(50):
                if pq.commit_offset() == 5:
                    break
                await asyncio.sleep(0.1)
            assert pq.commit_offset() == 5  # the hung message no longer holds the offset back
        assert sorted(i for i, r in seen if r == 0) == [0, 1, 2, 3, 4]

    run(scenario())


def test_send_back_fallback_goes_to_retry_topic(cluster: Cluster) -> None:
    topic, group = unique("Fallback"), unique("fbg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 1)
        await _send(cluster, topic, None, 1)
        async with PullConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as pc:
            mq = (await pc.fetch_subscribe_message_queues(topic))[0]
            (msg,) = (await pc.pull(mq, "*", 0, 1)).messages
            client = MQClientInstance.acquire(
                dataclasses.replace(CLIENT, namesrv_addr=cluster.namesrv_addr), "fb"
            )
            sender = SendBack(client, client.config, group)
            # The broker made %RETRY%<group> (1 queue) at the consumer's heartbeat; its route reaches
            # the NameServer a moment later. A push consumer subscribes its retry topic, so its
            # route is known; before that a producer sends with the TBW102 template's 4 queues and
            # the broker refuses queue ids >= 1 (SYSTEM_ERROR, as Apache's msgCheck does).
            await _queues(pc, f"%RETRY%{group}")
            try:
                assert await sender.send_direct(msg, 16, 5.0, msg.reconsume_times + 1)
            finally:
                await sender.close()
                await client.release()
            retry = await _queues(pc, f"%RETRY%{group}")
            got = await _pull_all(pc, retry, 1)
        assert len(got) == 1
        back = got[0]
        assert back.body == b"m0" and back.keys == "k0"
        assert back.reconsume_times == 1
        assert back.properties[MessageConst.RETRY_TOPIC] == topic
        assert back.properties[MessageConst.ORIGIN_MESSAGE_ID] == msg.msg_id

    run(scenario())


def test_flow_control_pauses_pulling(cluster: Cluster) -> None:
    topic, group = unique("Flow"), unique("flg")
    cfg = dataclasses.replace(CONSUMER, pull_threshold_for_queue=10, pull_batch_size=4, consume_thread_max=1)

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 1)
        gate = asyncio.Event()
        calls = 0

        async def listener(msgs: list[MessageExt]) -> ConsumeResult:
            nonlocal calls
            calls += 1
            await gate.wait()
            return ConsumeResult.SUCCESS

        consumer = PushConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=cfg)
        consumer.subscribe(topic)
        consumer.register_listener(listener)
        async with consumer:
            await _send(cluster, topic, None, 60)
            for _ in range(100):
                if calls:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # give pulling every chance to overrun
            pq = next(iter(consumer.process_queues().values()))
            assert 10 < pq.cached_count <= 10 + 4  # paused right after crossing the threshold
            gate.set()
            for _ in range(100):
                if pq.commit_offset() == 60:
                    break
                await asyncio.sleep(0.1)
            assert pq.commit_offset() == 60

    run(scenario())
