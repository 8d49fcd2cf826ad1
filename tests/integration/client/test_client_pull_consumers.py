"""PullConsumer (explicit offsets) and LitePullConsumer (assign/subscribe, poll, commit, seek)."""

from __future__ import annotations

import asyncio
import time

import pytest

from broker_core.message.model import Message, MessageQueue
from rocketmq_integration.client import (
    ConsumerConfig,
    LitePullConsumer,
    Producer,
    PullConsumer,
    PullStatus,
)
from tests.integration.client.helpers import CLIENT, CONSUMER, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def _fill(cluster: Cluster, topic: str, mq: MessageQueue, n: int) -> None:
    async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
        for i in range(n):
            msg = Message(topic, f"m{i}".encode(), properties={"idx": str(i)})
            msg.tags = "A" if i % 2 == 0 else "B"
            await p.send_to_queue(msg, mq)


def test_pull_consumer_explicit_offsets(cluster: Cluster) -> None:
    topic, group = unique("PullT"), unique("pullg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 2)
        async with PullConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as c:
            mqs = await c.fetch_subscribe_message_queues(topic)
            assert [mq.queue_id for mq in mqs] == [0, 1]
            mq0 = mqs[0]
            await _fill(cluster, topic, mq0, 20)
            assert (await c.min_offset(mq0), await c.max_offset(mq0)) == (0, 20)
            # min to max in small steps
            offset, got = 0, []
            while True:
                r = await c.pull(mq0, "*", offset, 8)
                if r.status is not PullStatus.FOUND:
                    assert r.status is PullStatus.NO_NEW_MSG
                    break
                assert (r.min_offset, r.max_offset) == (0, 20)
                got += [m.queue_offset for m in r.messages]
                offset = r.next_begin_offset
            assert got == list(range(20)) and offset == 20
            # tag filter: only "A" (even idx) comes back
            r = await c.pull(mq0, "A", 0, 32)
            assert r.status is PullStatus.FOUND
            assert {m.tags for m in r.messages} == {"A"} and len(r.messages) == 10
            # an offset beyond the end is illegal; Apache points back at min offset when that is 0
            r = await c.pull(mq0, "*", 1000, 8)
            assert r.status is PullStatus.OFFSET_ILLEGAL and r.next_begin_offset == 0
            # offsets are the application's: nothing moved by pulling
            assert await c.fetch_consume_offset(mq0) in (-1, 0)  # Apache answers 0 while min offset is 0
            await c.update_consume_offset(mq0, 7)
            assert await c.fetch_consume_offset(mq0) == 7
            # long polling: held until a message arrives
            t0 = time.monotonic()
            held = asyncio.create_task(c.pull_block_if_not_found(mqs[1], "*", 0, 4, hold=10.0))
            await asyncio.sleep(0.5)
            await _fill(cluster, topic, mqs[1], 1)
            r = await held
            assert r.status is PullStatus.FOUND and time.monotonic() - t0 < 8

    run(scenario())


def test_lite_pull_assign_poll_commit_seek(cluster: Cluster) -> None:
    topic, group = unique("LiteT"), unique("liteg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 2)
        lite = LitePullConsumer(
            group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER, auto_commit=False
        )
        await lite.start()
        try:
            mqs = await lite.fetch_message_queues(topic)
            await lite.assign(mqs)
            assert lite.assignment() == mqs
            await _fill(cluster, topic, mqs[0], 12)
            offsets: list[int] = []
            while len(offsets) < 12:
                batch = await lite.poll(10.0)
                assert batch, "poll timed out"
                offsets += [m.queue_offset for m in batch]
            assert offsets == list(range(12))
            assert await lite.committed(mqs[0]) in (-1, 0)  # nothing committed without commit_sync
            await lite.commit_sync()
            assert await lite.committed(mqs[0]) == 12
            await lite.seek(mqs[0], 5)
            again: list[int] = []
            while len(again) < 7:
                batch = await lite.poll(10.0)
                assert batch
                again += [m.queue_offset for m in batch]
            assert again == list(range(5, 12))
            assert await lite.poll(0.3) == []
        finally:
            await lite.shutdown()

    run(scenario())


def test_lite_pull_subscribe_shares_queues_and_auto_commits(cluster: Cluster) -> None:
    topic, group = unique("LiteSub"), unique("litesg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 4)
        consumers = [
            LitePullConsumer(
                group,
                namesrv_addr=cluster.namesrv_addr,
                client_config=CLIENT,
                config=CONSUMER,
                auto_commit_interval=0.5,
            )  # fmt: skip
            for _ in range(2)
        ]
        for c in consumers:
            c.subscribe(topic)
            await c.start()
        try:
            for _ in range(100):
                parts = [set(c.assignment()) for c in consumers]
                if all(len(p) == 2 for p in parts) and not parts[0] & parts[1]:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"no even split: {parts}")
            async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                for i in range(40):
                    await p.send(Message(topic, b"x", properties={"idx": str(i)}))
            seen: dict[int, int] = {}

            async def drain(c: LitePullConsumer, who: int) -> None:
                while len(seen) < 40:
                    for m in await c.poll(0.5):
                        assert m.queue_id in {mq.queue_id for mq in c.assignment()}
                        seen[int(m.properties["idx"])] = who

            await asyncio.wait_for(asyncio.gather(*(drain(c, i) for i, c in enumerate(consumers))), 30)
            assert sorted(seen) == list(range(40)) and set(seen.values()) == {0, 1}
        finally:
            for c in consumers:
                await c.shutdown()
        async with PullConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as pc:
            total = 0
            for mq in await pc.fetch_subscribe_message_queues(topic):
                total += max(0, await pc.fetch_consume_offset(mq))
            assert total == 40  # auto commit + commit at shutdown

    run(scenario())


def test_lite_pull_requires_one_mode() -> None:
    lite = LitePullConsumer("g1", config=ConsumerConfig())
    lite.subscribe("T")
    with pytest.raises(Exception, match="cannot be mixed"):
        run(lite.assign([MessageQueue("T", "b", 0)]), 5)
