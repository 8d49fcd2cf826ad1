"""Admin read operations against a real broker: topics, queue offsets, groups, lag, connections."""

from __future__ import annotations

import pytest

from broker_core.message.model import Message
from rocketmq_integration.client import Admin, ListenerKind, Producer, PushConsumer
from tests.integration.client.helpers import CLIENT, CONSUMER, Collector, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_topic_list_stats_groups_lag_and_connection(cluster: Cluster) -> None:
    topic, group = unique("AdmRead"), unique("admrg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 2)
        async with Admin(cluster.namesrv_addr, client_config=CLIENT) as admin:
            masters = await admin.master_addrs()
            assert list(masters.values()) == [cluster.broker_addr]
            info = await admin.broker_runtime_info(cluster.broker_addr)
            assert info["brokerVersionDesc"] == "V4_9_8"
            assert topic in await admin.topic_list()
            configs = await admin.topic_configs()
            assert configs[topic].read_queue_nums == 2

            async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                for i in range(6):
                    await p.send(Message(topic, b"x", properties={"idx": str(i)}))
                stats = await admin.topic_stats(topic)
                assert {mq[2] for mq in stats} == {0, 1}
                assert sum(t.max_offset - t.min_offset for t in stats.values()) == 6

                collector = Collector(6)
                consumer = PushConsumer(
                    group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
                )
                consumer.subscribe(topic, "*")
                consumer.register_listener(collector, ListenerKind.CONCURRENTLY)
                async with consumer:
                    await collector.wait(60)
                    conn = await admin.consumer_connection(group)
                    assert conn is not None and [c.client_id for c in conn.connections] == [
                        consumer.client_id
                    ]
                    assert topic in conn.subscriptions
                assert group in await admin.subscription_groups()
                assert group in await admin.groups_of_topic(topic)
                # the consumer committed all 6 on shutdown: no lag; three more sends are the lag
                assert (await admin.consume_stats(group)).diff_total == 0
                for i in range(3):
                    await p.send(Message(topic, b"y", properties={"idx": str(6 + i)}))
            lag = await admin.consume_stats(group, topic)
            assert lag.diff_total == 3
            assert {mq[0] for mq in lag.offset_table} == {topic}
            assert await admin.consumer_connection(group) is None

    run(scenario())
