"""5.x features on a 4.x cluster, against a real Apache RocketMQ 4.9.8 broker (the oracle; skipped
without ``ROCKETMQ_ORACLE_HOME``): timer messages and POP raise ``UnsupportedFeatureError`` instead
of delivering at once or failing with ``request type 200050 not supported``; the explicit opt-in
sends with the nearest delay level instead."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketmq_integration.client import Admin
from rocketmq_integration.errors import UnsupportedFeatureError
from rocketmq_integration.listeners import ConsumeFrom, ListenerContainer, MessageContext, build_spec
from rocketmq_integration.pytest_plugin import MessageCollector
from rocketmq_integration.template import RocketMQTemplate
from tests.support.apache_oracle import ApacheBroker, free_apache_port, oracle_home
from tests.support.cluster import ServerGroup


@pytest.fixture
def apache_namesrv(servers: ServerGroup, tmp_path: Path) -> Iterator[str]:
    home = oracle_home()
    namesrv = servers.namesrv()
    store = tmp_path / "apache-store"
    broker = ApacheBroker(home, tmp_path / "apache", {
        "brokerClusterName": "DefaultCluster", "brokerName": "apache-a", "brokerId": 0,
        "brokerIP1": "127.0.0.1", "namesrvAddr": namesrv.addr, "listenPort": free_apache_port(),
        "storePathRootDir": str(store), "storePathCommitLog": str(store / "commitlog"),
        "flushDiskType": "ASYNC_FLUSH", "autoCreateTopicEnable": "true",
        "messageDelayLevel": " ".join(["1s"] * 18),
    })  # fmt: skip
    broker.start()
    try:

        async def topic() -> None:
            async with Admin(namesrv.addr) as admin:
                await admin.create_topic("Apache5xT", broker_addr=broker.addr)
                await admin.wait_for_route("Apache5xT", timeout=30)

        asyncio.run(topic())
        yield namesrv.addr
    finally:
        broker.stop()


def test_timer_and_pop_on_apache_4_9_8_raise_and_the_opt_in_uses_a_delay_level(apache_namesrv: str) -> None:
    template = RocketMQTemplate("apache5x_p", namesrv_addr=apache_namesrv)
    seen = MessageCollector()
    container = ListenerContainer(
        build_spec(
            seen, topic="Apache5xT", consumer_group="apache5x_g", consume_from=ConsumeFrom.FIRST_OFFSET
        ),
        namesrv_addr=apache_namesrv,
    )
    container.start()
    try:
        with pytest.raises(UnsupportedFeatureError) as info:
            template.send_delayed("Apache5xT", "in-10s", 10.0)
        text = str(info.value)
        assert "need RocketMQ >= 5.0" in text and "reports V4_9_8" in text and "delay_level" in text
        assert info.value.broker_version == "V4_9_8"
        with pytest.raises(UnsupportedFeatureError):
            template.send_at("Apache5xT", "at", 1e10)

        result = template.send_delayed("Apache5xT", "nearest", 0.5, nearest_delay_level=True)
        assert result.status.name == "SEND_OK"
        (payload,) = seen.wait_for(1, 30)  # the refused sends delivered nothing
        ctx: MessageContext = seen.contexts[0]
        assert payload == "nearest"
        assert ctx.properties.get("DELAY") == "1"  # level 1 (1 s), parked by the 4.x schedule service
        assert len(seen) == 1

        with pytest.raises(UnsupportedFeatureError, match=r"receive: receive/ack \(POP consumption\) need"):
            template.receive("Apache5xT", group="apache5x_pop", wait=0.5)
    finally:
        container.stop()
        template.close()
