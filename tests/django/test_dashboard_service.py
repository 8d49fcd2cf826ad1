"""The dashboard's cluster reads, DLQ re-send and trace lookup against a real NameServer + broker."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from broker_core.message.model import Message, MessageExt
from broker_core.message.trace import TraceBean, TraceContext, TraceType, encode_context, trace_keys
from rocketmq_integration.client import (
    Admin,
    ClientConfig,
    ConsumeFromWhere,
    ConsumerConfig,
    ConsumeResult,
    Producer,
    PullConsumer,
    PushConsumer,
)
from rocketmq_integration.django.dashboard import dlq, service, trace
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# long connect/request timeouts: the test machine may be heavily loaded
CLIENT = ClientConfig(
    poll_name_server_interval=1.0,
    heartbeat_broker_interval=5.0,
    connect_timeout=10.0,
    mq_client_api_timeout=10.0,
)
CONSUMER = ConsumerConfig(
    consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    rebalance_interval=2.0,
    max_reconsume_times=0,
)


@pytest.fixture
def broker_conf() -> dict[str, Any]:
    return {"traceTopicEnable": "true"}


async def _consume_all(msgs: list[MessageExt]) -> ConsumeResult:
    return ConsumeResult.SUCCESS


def run(coro: Any, timeout: float = 90.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _setup_topic(admin: Admin, broker_addr: str, topic: str) -> None:
    await admin.create_topic(topic, broker_addr=broker_addr, read_queue_nums=2, write_queue_nums=2)
    await admin.wait_for_route(topic, min_write_queues=2, timeout=30)


def test_dlq_browse_resend_is_consumed_again_by_the_group_only(cluster: Cluster) -> None:
    topic, group = "DashDlqTopic", "dash_dlq_group"

    async def scenario() -> None:
        async with Admin(cluster.namesrv_addr, client_config=CLIENT) as admin:
            await _setup_topic(admin, cluster.broker_addr, topic)
            fail = {"poison"}
            seen: list[MessageExt] = []
            got_again = asyncio.Event()

            async def listener(msgs: list[MessageExt]) -> ConsumeResult:
                for m in msgs:
                    seen.append(m)
                    if m.keys in fail:
                        return ConsumeResult.RECONSUME_LATER
                    if m.keys == "poison":
                        got_again.set()
                return ConsumeResult.SUCCESS

            consumer = PushConsumer(
                group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
            )
            consumer.subscribe(topic, "*")
            consumer.register_listener(listener)
            async with (
                consumer,
                Producer("dash_pg", namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p,
            ):
                msg = Message(topic, b"<script>alert(1)</script>", properties={"order": "7"})
                msg.keys = "poison"
                sent = await p.send(msg)
                # max_reconsume_times=0: the first failure moves the message to %DLQ%<group>
                dead: list[MessageExt] = []
                for _ in range(600):
                    dead = await dlq.browse(admin, group)
                    if dead:
                        break
                    await asyncio.sleep(0.1)
                assert [m.msg_id for m in dead] == [sent.msg_id]
                assert dead[0].properties["RETRY_TOPIC"] == topic
                detail = await service.group_detail(admin, group)
                assert detail.dlq_messages == 1

                # found by key and by id (client msgId and the DLQ copy's offset msgId)
                by_key = await service.find_by_key(admin, topic, "poison")
                assert [m.msg_id for m in by_key] == [sent.msg_id]
                by_id = await service.find_by_id(admin, sent.msg_id, topic)
                assert by_id and by_id[0].body == b"<script>alert(1)</script>"
                by_offset = await service.find_by_id(admin, dead[0].offset_msg_id)
                assert [m.topic for m in by_offset] == [dlq.DLQ_PREFIX + group]

                fail.clear()
                result = await dlq.resend(admin, group, dead[0].offset_msg_id)
                assert result.msg_id == sent.msg_id
                await asyncio.wait_for(got_again.wait(), 60)
                again = seen[-1]
                assert again.topic == topic and again.body == msg.body and again.properties["order"] == "7"
                assert again.reconsume_times == 0

                with pytest.raises(dlq.NotADeadLetter):
                    await dlq.resend(admin, group, sent.offset_msg_id)  # a normal message, not a dead letter
                with pytest.raises(dlq.NotADeadLetter):
                    await dlq.resend(admin, group, "not-hex")

    run(scenario())


def test_topics_groups_and_lag_rows(cluster: Cluster) -> None:
    topic, group = "DashLagTopic", "dash_lag_group"

    async def scenario() -> None:
        async with Admin(cluster.namesrv_addr, client_config=CLIENT) as admin:
            await _setup_topic(admin, cluster.broker_addr, topic)
            async with Producer("dash_pg2", namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as p:
                for i in range(4):
                    await p.send(Message(topic, str(i).encode()))
            rows = await service.brokers(admin)
            assert [(r.addr, r.version) for r in rows] == [(cluster.broker_addr, "V4_9_8")]
            names = {t.name: t for t in await service.topics(admin)}
            assert names[topic].messages == 4 and not names[topic].system
            assert "TBW102" not in names and "TBW102" in {
                t.name for t in await service.topics(admin, include_system=True)
            }
            # the group exists once a member heartbeats; then it commits offset 1 on each queue: lag 4 - 2
            member = PushConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)
            member.subscribe(topic, "*")
            member.register_listener(_consume_all)
            async with member:
                pass
            async with PullConsumer(group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as pc:
                for mq in await pc.fetch_subscribe_message_queues(topic):
                    await pc.update_consume_offset(mq, 1)
            detail = await service.topic_detail(admin, topic)
            assert detail.messages == 4 and len(detail.queues) == 2
            assert [(g.name, g.lag) for g in detail.groups] == [(group, 2)]
            assert group in {g.name for g in await service.groups(admin)}
            assert "TOOLS_CONSUMER" not in {g.name for g in await service.groups(admin)}
            gd = await service.group_detail(admin, group)
            assert sorted((r.topic, r.queue_id, r.lag) for r in gd.queues) == [(topic, 0, 1), (topic, 1, 1)]

    run(scenario())


def test_trace_records_are_found_by_msg_id(cluster: Cluster) -> None:
    async def scenario() -> None:
        async with Admin(cluster.namesrv_addr, client_config=CLIENT) as admin:
            await admin.wait_for_route(trace.DEFAULT_TRACE_TOPIC, timeout=30)
            msg_id = "7F00000100002A9F0000000000000042"
            # what a Java client with enableMsgTrace writes: a Pub record, then SubBefore + SubAfter
            bean = TraceBean(
                msg_id=msg_id, topic="Orders", tags="TagA", keys="k1", store_host=cluster.broker_addr
            )
            pub = TraceContext(TraceType.Pub, 1000, "DefaultRegion", "pg", cost_time=3, beans=[bean])
            before = TraceContext(
                TraceType.SubBefore, 2000, "DefaultRegion", "cg", request_id="r1", beans=[bean]
            )
            after = TraceContext(
                TraceType.SubAfter, 2005, None, "cg", cost_time=5, request_id="r1", beans=[bean]
            )
            async with Producer(
                "dash_trace_pg", namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
            ) as p:
                for ctxs in ([before, after], [pub]):
                    m = Message(trace.DEFAULT_TRACE_TOPIC, "".join(encode_context(c) for c in ctxs).encode())
                    m.keys = trace_keys(ctxs[0])
                    await p.send(m)
            records: list[Any] = []
            for _ in range(100):  # the index is built asynchronously after the store
                records = await trace.lookup(admin, msg_id) or []
                if len(records) == 3:
                    break
                await asyncio.sleep(0.1)
            assert [(r.msg_type, r.group_name) for r in records] == [
                ("Pub", "pg"),
                ("SubBefore", "cg"),
                ("SubAfter", "cg"),
            ]
            assert (
                records[0].topic == "Orders" and records[0].status == "success" and records[0].cost_time == 3
            )
            assert records[2].cost_time == 5
            assert await trace.lookup(admin, msg_id, "NoSuchTraceTopic") is None

    run(scenario())


def test_unreachable_nameserver_is_reported_not_raised() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(service.ClusterUnavailable, match="cannot read from the cluster"):
            service.call(f"127.0.0.1:{port}", service.brokers, timeout=2.0)
    with pytest.raises(service.ClusterUnavailable, match="no NameServer address"):
        service.call("", service.brokers)
