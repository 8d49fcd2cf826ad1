"""SQL92 property filtering end to end (storage spec 5.2, remoting spec 4.2).

Our PushConsumer subscribes with ``expression_type="SQL92"``; the broker registers the expression
from the heartbeat (``consumerFilter.json``) and filters on the commit-log properties. The wire
tests pull with the expression in the request header, so compile errors come back as
SUBSCRIPTION_PARSE_FAILED with their position.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from broker_core.message.codec import decode_records
from broker_core.message.properties import encode_properties
from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from broker_core.remoting.command import RemotingCommand
from rocketmq_integration.client import ListenerKind, Message, MessageQueue, Producer, PushConsumer
from tests.integration.client.helpers import CLIENT, CONSUMER, Collector, create_topic, run, unique
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture
def broker_conf() -> dict[str, str]:
    return {"enablePropertyFilter": "true"}


def _send(client: BlockingRemotingClient, addr: str, topic: str, body: bytes, props: dict[str, str]) -> None:
    ext = {
        "a": "sql_pg", "b": topic, "c": "TBW102", "d": "1", "e": "0", "f": "0",
        "g": str(int(time.time() * 1000)), "h": "0", "i": encode_properties(props),
    }  # fmt: skip
    resp = client.invoke(addr, RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, body), 5.0)
    assert resp.code == ResponseCode.SUCCESS, resp.remark


def _pull_sql(client: BlockingRemotingClient, addr: str, topic: str, expression: str) -> RemotingCommand:
    ext = {
        "consumerGroup": "sql_cg", "topic": topic, "queueId": "0", "queueOffset": "0", "maxMsgNums": "32",
        "sysFlag": "4", "commitOffset": "0", "suspendTimeoutMillis": "0", "subVersion": "0",
        "subscription": expression, "expressionType": "SQL92",
    }  # fmt: skip
    return client.invoke(addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, ext), 5.0)


def test_pull_with_sql92_header_filters_and_reports_parse_errors(cluster: Cluster) -> None:
    topic = unique("SqlWire")
    client = BlockingRemotingClient()
    try:
        for i in range(10):
            _send(
                client, cluster.broker_addr, topic, f"m{i}".encode(), {"a": str(i), "TAGS": "t" + str(i % 2)}
            )
        _send(client, cluster.broker_addr, topic, b"no-a", {"TAGS": "t0"})
        resp = _pull_sql(client, cluster.broker_addr, topic, "a BETWEEN 0 AND 3 AND TAGS = 't1'")
        assert resp.code == ResponseCode.SUCCESS
        assert [m.body for m in decode_records(resp.body or b"")] == [b"m1", b"m3"]
        resp = _pull_sql(client, cluster.broker_addr, topic, "a > 100")
        assert resp.code == ResponseCode.PULL_RETRY_IMMEDIATELY  # all filtered, offset advanced
        assert resp.ext_fields is not None and resp.ext_fields["nextBeginOffset"] == "11"
        bad = _pull_sql(client, cluster.broker_addr, topic, "a BETWEEN 1 AND")
        assert bad.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED
        assert "line 1, column 16" in (bad.remark or "")
        bad = _pull_sql(client, cluster.broker_addr, topic, "a > 'x'")
        assert bad.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED
        assert "cannot be compared" in (bad.remark or "")
        # CHECK_CLIENT_CONFIG, what a Java push consumer sends before it starts
        for expr, code in (("a > 1", ResponseCode.SUCCESS), ("a >", ResponseCode.SUBSCRIPTION_PARSE_FAILED)):
            sub = {"topic": topic, "subString": expr, "expressionType": "SQL92", "subVersion": 1}
            body = json.dumps({"clientId": "c1", "group": "sql_cg", "subscriptionData": sub}).encode()
            check = RemotingCommand.request(RequestCode.CHECK_CLIENT_CONFIG, {}, body)
            assert client.invoke(cluster.broker_addr, check, 5.0).code == code
    finally:
        client.close()


@pytest.mark.parametrize("broker_conf", [{}])
def test_sql92_rejected_when_property_filter_disabled(cluster: Cluster) -> None:
    client = BlockingRemotingClient()
    try:
        topic = unique("SqlOff")
        _send(client, cluster.broker_addr, topic, b"x", {"a": "2"})
        resp = _pull_sql(client, cluster.broker_addr, topic, "a > 1")
        assert resp.code == ResponseCode.SYSTEM_ERROR and "SQL92" in (resp.remark or "")
    finally:
        client.close()


def test_push_consumers_with_sql92_subscriptions(cluster: Cluster) -> None:
    topic = unique("Sql")
    between, region = unique("cg_between"), unique("cg_region")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, queues=2)
        producer = Producer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)
        await producer.start()
        for i in range(40):
            props = {"idx": str(i), "a": str(i % 10), "region": "eu" if i % 4 == 0 else "us"}
            await producer.send(Message(topic, f"body{i}".encode(), properties=props))
        want_between = {i for i in range(40) if i % 10 <= 3}
        want_region = {i for i in range(40) if i % 4 == 0}
        c1, c2 = Collector(len(want_between)), Collector(len(want_region))
        consumers = []
        for group, expr, coll in ((between, "a BETWEEN 0 AND 3", c1), (region, "region = 'eu'", c2)):
            consumer = PushConsumer(
                group, namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
            )
            consumer.subscribe(topic, expr, expression_type="SQL92")
            consumer.register_listener(coll, ListenerKind.ORDERLY)
            await consumer.start()
            consumers.append(consumer)
        controls = {100, 101}  # match both filters, one per queue, sent after everything else
        try:
            await asyncio.gather(c1.wait(), c2.wait())
            for idx in controls:
                msg = Message(topic, b"control", properties={"idx": str(idx), "a": "0", "region": "eu"})
                await producer.send_to_queue(msg, MessageQueue(topic, "broker-a", idx - 100))
            await asyncio.gather(c1.wait_for_idx(controls), c2.wait_for_idx(controls))
        finally:
            for consumer in consumers:
                await consumer.shutdown()
            await producer.shutdown()
        assert set(c1.by_idx) == want_between | controls
        assert set(c2.by_idx) == want_region | controls

    run(scenario())
    cluster.broker.stop()
    saved = json.loads((cluster.broker.store_dir / "config" / "consumerFilter.json").read_text())
    groups = saved["filterDataByTopic"][topic]["groupFilterData"]
    assert groups[between]["expression"] == "a BETWEEN 0 AND 3"
    assert groups[region]["expressionType"] == "SQL92"
