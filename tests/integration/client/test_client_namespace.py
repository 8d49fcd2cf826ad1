"""Namespaces: two namespaces share one cluster with the same topic and group names, fully isolated;
retry topics follow Apache's naming (``%RETRY%<ns>%<group>``); the admin CLI takes ``--namespace``."""

from __future__ import annotations

import asyncio
import dataclasses
import io

import pytest

from broker_core.admin.cli import main as admin_main
from broker_core.admin.client import MQAdmin
from broker_core.message.model import Message, MessageExt
from rocketmq_integration.client import PushConsumer
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.results import ConsumeResult
from tests.integration.client.helpers import CLIENT, CONSUMER, create_topic, run
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_namespaces_isolate_topics_groups_and_retries(cluster: Cluster) -> None:
    ns_addr = cluster.namesrv_addr
    got: dict[str, list[MessageExt]] = {"NS1": [], "NS2": []}
    attempts: dict[str, int] = {}

    async def scenario() -> None:
        for ns in ("NS1", "NS2"):
            await create_topic(ns_addr, cluster.broker_addr, f"{ns}%Orders", 2)
        consumers = []
        for ns in ("NS1", "NS2"):
            cc = dataclasses.replace(CLIENT, namespace=ns)
            c = PushConsumer("OrderGroup", namesrv_addr=ns_addr, client_config=cc,
                             config=dataclasses.replace(CONSUMER, max_reconsume_times=2))  # fmt: skip
            c.subscribe("Orders")

            async def listen(msgs: list[MessageExt], ns: str = ns) -> ConsumeResult:
                m = msgs[0]
                assert m.topic == "Orders"  # the listener sees plain names
                key = f"{ns}/{m.body.decode()}"
                attempts[key] = attempts.get(key, 0) + 1
                if m.body == b"retry-me" and attempts[key] == 1:
                    return ConsumeResult.RECONSUME_LATER
                got[ns].append(m)
                return ConsumeResult.SUCCESS

            c.register_listener(listen)
            consumers.append(c)
            assert c.group == f"{ns}%OrderGroup"
        for c in consumers:
            await c.start()
        try:
            sent = {}
            for ns, bodies in (("NS1", [b"a1", b"a2", b"retry-me"]), ("NS2", [b"b1", b"b2"])):
                cc = dataclasses.replace(CLIENT, namespace=ns)
                async with Producer("OrderProducer", namesrv_addr=ns_addr, client_config=cc) as p:
                    for body in bodies:
                        result = await p.send(Message("Orders", body))
                        assert result.message_queue.topic == "Orders"
                        sent[body] = result
            for _ in range(400):
                if len(got["NS1"]) >= 3 and len(got["NS2"]) >= 2:
                    break
                await asyncio.sleep(0.1)
        finally:
            for c in consumers:
                await c.shutdown()
        assert sorted(m.body for m in got["NS1"]) == [b"a1", b"a2", b"retry-me"]
        assert sorted(m.body for m in got["NS2"]) == [b"b1", b"b2"]
        assert attempts["NS1/retry-me"] == 2

    run(scenario(), 150)
    with MQAdmin(ns_addr) as adm:
        topics = set(adm.topic_list())
    assert {"NS1%Orders", "NS2%Orders", "%RETRY%NS1%OrderGroup", "%RETRY%NS2%OrderGroup"} <= topics
    assert "Orders" not in topics
    out, err = io.StringIO(), io.StringIO()
    assert admin_main(["topicStatus", "-n", ns_addr, "--namespace", "NS1", "-t", "Orders"], out, err) == 0, (
        err.getvalue()
    )
    assert sum(int(line.split()[3]) for line in out.getvalue().splitlines()[1:]) == 3
    out = io.StringIO()
    assert (
        admin_main(["consumerProgress", "-n", ns_addr, "--namespace", "NS2", "-g", "OrderGroup"], out, err)
        == 0
    )
    assert "NS2%Orders" in out.getvalue() and "Diff Total: 0" in out.getvalue()
