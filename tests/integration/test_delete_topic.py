"""DELETE_TOPIC_IN_BROKER cleans the store (Apache's ``cleanUnusedTopic``): the topic's consume queues
go (files and mappings), with its queue offsets, committed offsets and POP positions, so a topic
created again under the same name starts at offset 0 and its consumers see its first messages."""

from __future__ import annotations

import pytest

from rocketmq_integration.client import Message, Producer
from rocketmq_integration.client.admin import Admin
from rocketmq_integration.client.pop_consumer import PopConsumer
from tests.integration.client.helpers import CLIENT, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = pytest.mark.timeout(120)


async def _send(cluster: Cluster, topic: str, bodies: list[bytes]) -> None:
    async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
        for body in bodies:
            await p.send(Message(topic, body))


async def _pop_all(c: PopConsumer, n: int) -> list[bytes]:
    got: list[bytes] = []
    for _ in range(30):
        for m in await c.receive(32, invisible_time=30.0, poll_time=0.5):
            got.append(m.message.body)
            await c.ack(m.receipt_handle)
        if len(got) >= n:
            break
    return got


def test_a_deleted_topic_created_again_starts_empty_at_offset_zero(cluster: Cluster) -> None:
    topic, group = unique("Del"), unique("cg")
    assert cluster.broker.store_dir is not None
    cq_dir = cluster.broker.store_dir / "consumequeue" / topic

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, queues=1)
        await _send(cluster, topic, [b"old-0", b"old-1", b"old-2"])
        async with PopConsumer(group, topic, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as c:
            assert sorted(await _pop_all(c, 3)) == [b"old-0", b"old-1", b"old-2"]
        async with Admin(cluster.namesrv_addr, client_config=CLIENT) as admin:
            mq = (await admin.message_queues(topic))[0]
            assert await admin.get_max_offset(mq) == 3
            assert cq_dir.is_dir()
            await admin.delete_topic(topic)
            assert topic not in await admin.topic_list()
            assert not cq_dir.exists(), "the deleted topic's consume queues are removed"
            await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, queues=1)
            mq = (await admin.message_queues(topic))[0]
            assert await admin.get_max_offset(mq) == 0, "a topic created again starts at offset 0"
            await _send(cluster, topic, [b"new-0"])
            assert await admin.get_max_offset(mq) == 1
            # the group's committed offset 3 of the old topic is gone (Apache answers 0 for none)
            assert (await admin.query_consumer_offset(group, mq) or 0) <= 0
        # the group that consumed the old topic gets the new topic's first message (POP position reset)
        async with PopConsumer(group, topic, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as c:
            assert await _pop_all(c, 1) == [b"new-0"]

    run(scenario())
