"""Our client across a master kill: sends fail over to the other broker group, and a consumer keeps
reading the killed master's messages from its slave."""

from __future__ import annotations

import asyncio

import pytest

from broker_core.remoting.codes import RequestCode
from rocketmq_integration.client import Producer, PushConsumer, SendStatus
from tests.integration.client.helpers import CLIENT, CONSUMER, Collector, run, to_message, unique
from tests.integration.ha.helpers import start_master, start_slave, wait_for
from tests.support import admin
from tests.support.cluster import ServerGroup
from tests.support.payloads import make_message

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_sends_fail_over_to_another_group_and_consumers_read_from_the_slave(servers: ServerGroup) -> None:
    namesrv = servers.namesrv()
    master_a = start_master(servers, namesrv, "SYNC_MASTER", broker_name="broker-a")
    slave_a = start_slave(servers, namesrv, broker_name="broker-a")
    master_b = start_master(servers, namesrv, "ASYNC_MASTER", broker_name="broker-b")
    topic, run_id = unique("HaClient"), "hc"
    admin.create_topic(master_a.addr, topic, queues=2)
    admin.create_topic(master_b.addr, topic, queues=2)
    wait_for(
        lambda: (
            topic
            in admin.invoke(slave_a.addr, RequestCode.GET_ALL_TOPIC_CONFIG).json_body()["topicConfigTable"]
        ),
        30,
        "topic on the slave",
    )
    first, second = 40, 40

    async def scenario() -> None:
        async with Producer(unique("pg"), namesrv_addr=namesrv.addr, client_config=CLIENT) as producer:
            for i in range(first):
                result = await producer.send(to_message(topic, make_message(i, run_id)))
                assert result.status is SendStatus.SEND_OK
            await asyncio.to_thread(master_a.kill)
            brokers = []
            for i in range(first, first + second):  # the route still names broker-a for a while
                result = await producer.send(to_message(topic, make_message(i, run_id)))
                assert result.status is SendStatus.SEND_OK
                brokers.append(result.message_queue.broker_name)
            assert set(brokers) == {"broker-b"}
        collector = Collector(first + second)
        consumer = PushConsumer(
            unique("cg"), namesrv_addr=namesrv.addr, client_config=CLIENT, config=CONSUMER
        )
        consumer.subscribe(topic)
        consumer.register_listener(collector)
        async with consumer:
            await asyncio.wait_for(collector.done.wait(), 90)
        assert set(collector.by_idx) == set(range(first + second))

    run(scenario(), timeout=150)
    assert master_b.running and slave_a.running
