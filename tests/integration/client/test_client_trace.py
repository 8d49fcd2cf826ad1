"""Message trace end to end: a traced producer and two traced consumer groups; the trace query
rebuilds the message's path (producer -> broker -> each group) with plausible timings, and the
records in RMQ_SYS_TRACE_TOPIC are in Apache's layout."""

from __future__ import annotations

import asyncio
import dataclasses
import io

import pytest

from broker_core.admin.cli import main as admin_main
from broker_core.message.model import Message, MessageExt
from broker_core.message.trace import TRACE_TOPIC, TraceType, decode_trace_data
from rocketmq_integration.client import Admin, ProducerConfig, PushConsumer
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.results import ConsumeResult
from rocketmq_integration.client.trace import query_trace
from tests.integration.client.helpers import CLIENT, CONSUMER, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def broker_conf() -> dict[str, str]:
    return {"traceTopicEnable": "true"}


def test_trace_of_send_and_two_consumer_groups(cluster: Cluster) -> None:
    topic, g1, g2, pg = unique("TrT"), unique("TrG1"), unique("TrG2"), unique("TrP")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, 2)
        consumers = []
        seen: dict[str, list[MessageExt]] = {g1: [], g2: []}
        for group in (g1, g2):
            cfg = dataclasses.replace(CONSUMER, enable_msg_trace=True)
            c = PushConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=cfg)
            c.subscribe(topic)

            async def listen(msgs: list[MessageExt], group: str = group) -> ConsumeResult:
                seen[group].extend(msgs)
                return ConsumeResult.SUCCESS

            c.register_listener(listen)
            consumers.append(c)
        producer = Producer(pg, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT,
                            config=ProducerConfig(enable_msg_trace=True))  # fmt: skip
        async with producer:
            msg = Message(topic, b"traced body")
            msg.tags, msg.keys = "tagT", "orderKey1"
            result = await producer.send(msg)
            for c in consumers:
                await c.start()
            try:
                for _ in range(300):
                    if all(seen.values()):
                        break
                    await asyncio.sleep(0.1)
                assert all(len(v) == 1 for v in seen.values())
                for c in consumers:
                    assert c.tracer is not None
                    await c.tracer.flush(10)
                assert producer.tracer is not None
                await producer.tracer.flush(10)
            finally:
                for c in consumers:
                    await c.shutdown()

        async with Admin(cluster.namesrv_addr) as admin:
            views = []
            for _ in range(100):
                views = await query_trace(admin, result.msg_id)
                if sum(v.msg_type == "SubAfter" for v in views) == 2 and any(
                    v.msg_type == "Pub" for v in views
                ):
                    break
                await asyncio.sleep(0.2)
            pub = [v for v in views if v.msg_type == "Pub"]
            assert len(pub) == 1
            assert (pub[0].group_name, pub[0].status, pub[0].topic) == (pg, "success", topic)
            assert pub[0].store_host == cluster.broker_addr and pub[0].offset_msg_id == result.offset_msg_id
            assert pub[0].keys == "orderKey1" and pub[0].tags == "tagT" and 0 <= pub[0].cost_time < 10_000
            for group in (g1, g2):
                before = [v for v in views if v.msg_type == "SubBefore" and v.group_name == group]
                after = [v for v in views if v.msg_type == "SubAfter" and v.group_name == group]
                assert len(before) == 1 and len(after) == 1, views
                assert after[0].status == "success" and 0 <= after[0].cost_time < 10_000
                assert pub[0].time_stamp <= before[0].time_stamp <= after[0].time_stamp
            # the stored trace messages decode with Apache's layout
            records = []
            for m in await admin.query_message(TRACE_TOPIC, result.msg_id, 64):
                records += [
                    c for c in decode_trace_data(m.body.decode()) if c.beans[0].msg_id == result.msg_id
                ]
                assert result.msg_id in (m.keys or "").split()
            assert {c.trace_type for c in records} == {TraceType.Pub, TraceType.SubBefore, TraceType.SubAfter}

        out, err = io.StringIO(), io.StringIO()
        assert (
            admin_main(["queryMsgTraceById", "-n", cluster.namesrv_addr, "-i", result.msg_id], out, err) == 0
        ), err.getvalue()
        text = out.getvalue()
        assert "#ProducerGroup" in text and f"Pub        {pg}" in text
        assert text.count("#ConsumerGroup") == 2 and f"Sub        {g1}" in text and f"Sub        {g2}" in text

    run(scenario(), 150)
