"""A POP parked by a client that disconnects takes no lease when a message arrives later."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from rocketmq_integration.client import Message, Producer
from rocketmq_integration.client.pop_consumer import PopConsumer
from tests.integration.client.helpers import CLIENT, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.timeout(120)]


def test_message_arriving_for_a_closed_parked_pop_stays_visible(cluster: Cluster) -> None:
    topic, group = unique("PopGone"), unique("cg")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic)
        gone = PopConsumer(group, topic, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)
        await gone.start()
        parked = asyncio.create_task(gone.receive(1, invisible_time=60, poll_time=20))
        await gone.receive(1, invisible_time=60, poll_time=0)  # route known, group created
        await asyncio.sleep(0.5)  # let the 20 s pop reach the broker and park (no event to await)
        await gone.shutdown()  # closes the connection under the parked pop
        with contextlib.suppress(Exception):
            await parked
        async with Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
            await p.send(Message(topic, b"after"))
        async with PopConsumer(group, topic, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as c:
            got = []
            for _ in range(10):
                got += await c.receive(1, invisible_time=60, poll_time=1.0)
                if got:
                    break
        assert [m.message.body for m in got] == [b"after"]

    run(scenario())
