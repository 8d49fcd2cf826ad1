"""Request-reply: Producer.request-style round trip through the broker's PUSH_REPLY_MESSAGE_TO_CLIENT."""

from __future__ import annotations

import asyncio
import time

import pytest

from broker_core.message.properties import MessageConst
from rocketmq_integration.client import ConsumeResult, Message, MessageExt, Producer, PushConsumer
from rocketmq_integration.client.request_reply import RequestTimeoutError, reply, request
from tests.integration.client.helpers import CLIENT, CONSUMER, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_request_reply_round_trip(cluster: Cluster) -> None:
    topic = unique("Req")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, queues=2)
        async with (
            Producer(unique("replier"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as replier,
            Producer(unique("requester"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as req,
        ):
            # no consumer yet: the request times out cleanly
            t0 = time.monotonic()
            with pytest.raises(RequestTimeoutError):
                await request(req, Message(topic, b"lost"), timeout=1.0)
            assert time.monotonic() - t0 < 4.0

            async def listener(msgs: list[MessageExt]) -> ConsumeResult:
                for m in msgs:
                    if m.body != b"lost":
                        await reply(replier, m, b"pong:" + m.body, {"who": "replier"})
                return ConsumeResult.SUCCESS

            consumer = PushConsumer(
                unique("cg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
            )
            consumer.subscribe(topic, "*")
            consumer.register_listener(listener)
            await consumer.start()
            try:
                answers = await asyncio.gather(
                    *(request(req, Message(topic, f"ping{i}".encode()), timeout=20.0) for i in range(5))
                )
                assert [a.body for a in answers] == [f"pong:ping{i}".encode() for i in range(5)]
                a = answers[0]
                assert a.properties[MessageConst.MSG_TYPE] == "reply"
                assert a.properties["who"] == "replier"
                assert a.properties[MessageConst.REPLY_TO_CLIENT] == req.client.client_id
                assert a.topic.endswith("_REPLY_TOPIC")
                assert len({x.properties[MessageConst.CORRELATION_ID] for x in answers}) == 5
            finally:
                await consumer.shutdown()

    run(scenario(), timeout=90)
