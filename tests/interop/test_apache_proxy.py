"""Our gRPC proxy in front of a real Apache RocketMQ 4.9.8 broker (the oracle; skipped without
``ROCKETMQ_ORACLE_HOME``): the 5.x client's normal, FIFO and transactional messages (commit and a
check-back answered through Telemetry) land in Apache's store and are consumed over remoting by our
client with their properties; receiving through the proxy needs POP, which 4.9.8 lacks: UNSUPPORTED."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketmq_integration.client import Admin, PushConsumer
from rocketmq_integration.errors import RemotingTimeoutError
from tests.integration.client.helpers import CLIENT, CONSUMER, Collector, unique
from tests.integration.proxy.conftest import start_proxy
from tests.support.apache_oracle import ApacheBroker, free_apache_port, oracle_home
from tests.support.cluster import ServerGroup
from tests.support.process import ServerProcess
from tests.support.rmq5 import Rmq5Client, Rmq5Error

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
TOPIC = "ApacheProxyT"


@pytest.fixture
def apache_proxy(servers: ServerGroup, tmp_path: Path) -> Iterator[tuple[str, ServerProcess]]:
    home = oracle_home()
    namesrv = servers.namesrv()
    store = tmp_path / "apache-store"
    broker = ApacheBroker(home, tmp_path / "apache", {
        "brokerClusterName": "DefaultCluster", "brokerName": "apache-a", "brokerId": 0,
        "brokerIP1": "127.0.0.1", "namesrvAddr": namesrv.addr, "listenPort": free_apache_port(),
        "storePathRootDir": str(store), "storePathCommitLog": str(store / "commitlog"),
        "flushDiskType": "ASYNC_FLUSH", "autoCreateTopicEnable": "true",
        "transactionTimeOut": 2000, "transactionCheckInterval": 1000,
    })  # fmt: skip
    broker.start()
    try:

        async def topic() -> None:
            async with Admin(namesrv.addr) as admin:
                for attempt in range(5):  # a JVM just started on a busy machine answers slowly at first
                    try:
                        await admin.create_topic(
                            TOPIC, broker_addr=broker.addr, read_queue_nums=2, write_queue_nums=2
                        )
                        break
                    except RemotingTimeoutError:
                        if attempt == 4:
                            raise
                await admin.wait_for_route(TOPIC, min_write_queues=2, timeout=30)

        asyncio.run(topic())
        yield namesrv.addr, start_proxy(servers, namesrv, tmp_path)
    finally:
        broker.stop()


def test_5x_client_through_our_proxy_into_apache_4_9_8(
    apache_proxy: tuple[str, ServerProcess], tmp_path: Path
) -> None:
    namesrv_addr, proxy = apache_proxy
    with Rmq5Client(proxy.addr, tmp_path / "p" / "driver.log") as producer:
        producer.call("producer", topics=[TOPIC], check_answer="commit")
        specs = [
            {"topic": TOPIC, "body": f"n{i}", "tag": "TA", "keys": [f"k{i}"], "props": {"idx": str(i)},
             **({"group": "g1"} if i % 2 else {})}
            for i in range(20)
        ]  # fmt: skip
        ids = producer.call("send", messages=specs)["ids"]
        tx = producer.call("tx_send", message={"topic": TOPIC, "body": "tx-commit", "props": {"idx": "100"}},
                           action="commit")["id"]  # fmt: skip
        checked = producer.call("tx_send", message={"topic": TOPIC, "body": "tx-checked", "props": {"idx": "101"}},
                                action="none")["id"]  # fmt: skip

        collector = Collector(22)

        async def consume() -> None:
            consumer = PushConsumer(
                unique("cg_apache"), namesrv_addr=namesrv_addr, client_config=CLIENT, config=CONSUMER
            )
            consumer.subscribe(TOPIC)
            consumer.register_listener(collector)
            async with consumer:
                await collector.wait(120)

        asyncio.run(asyncio.wait_for(consume(), 180))
        assert checked in producer.call("checked")["ids"]  # Apache's check-back reached the 5.x client

    assert sorted(collector.by_idx) == [*range(20), 100, 101]
    for i in (0, 1, 19):
        m = collector.by_idx[i]
        assert (m.body, m.tags, m.keys, m.msg_id) == (f"n{i}".encode(), "TA", f"k{i}", ids[i])
        assert m.properties.get("__SHARDINGKEY") == ("g1" if i % 2 else None)
    assert collector.by_idx[100].msg_id == tx and collector.by_idx[101].msg_id == checked

    with Rmq5Client(proxy.addr, tmp_path / "c" / "driver.log") as consumer5:
        consumer5.call("simple", group="GApacheProxy", topic=TOPIC)
        with pytest.raises(Rmq5Error) as err:
            consumer5.call("receive", max=8, invisible=20)
        assert err.value.code == 50500  # UNSUPPORTED: 4.9.8 has no POP
