"""Errors that say what to do, met with real processes: a store in use, a bad ``namesrv -c``, a
peer that is not RocketMQ, a SQL92 listener on a broker without ``enablePropertyFilter``, a topic
whose only broker died."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker_core.message.model import Message
from rocketmq_integration.client import Admin, ConsumeResult, PushConsumer, SyncProducer
from rocketmq_integration.errors import ClientError, MQClientError, NoRouteError
from rocketmq_integration.listeners import ListenerContainer, build_spec
from tests.support.cluster import Cluster, ServerGroup
from tests.support.net import free_port
from tests.support.process import server_env

CLI_TIMEOUT = 60


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=server_env(),
        cwd=cwd,
        timeout=CLI_TIMEOUT,
    )


def test_second_broker_on_a_store_in_use_exits_with_a_message_not_a_traceback(
    cluster: Cluster, tmp_path: Path
) -> None:
    store = Path(cluster.broker.argv[cluster.broker.argv.index("--store-dir") + 1])
    proc = run_cli(
        ["-m", "broker_core", "broker", "--namesrv", cluster.namesrv_addr, "--port", str(free_port()),
         "--store-dir", str(store)],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    assert f"the store {store} is in use by another broker" in proc.stderr
    assert "--store-dir" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_second_make_demo_on_the_same_store_exits_with_a_message(cluster: Cluster, tmp_path: Path) -> None:
    store = Path(cluster.broker.argv[cluster.broker.argv.index("--store-dir") + 1])
    proc = run_cli(
        ["-m", "rocketmq_integration.demo", "--namesrv-port", str(free_port()), "--broker-port", str(free_port()),
         "--store-dir", str(store), "--exit-after-demo"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "is in use by another `make demo`" in proc.stderr and "DEMO_ARGS='--store-dir" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_namesrv_c_with_a_bad_value_exits_2_naming_the_key(tmp_path: Path) -> None:
    conf = tmp_path / "namesrv.properties"
    conf.write_text("listenPort=9876\norderMessageEnable=yes\n")
    proc = run_cli(["-m", "broker_core", "namesrv", "-c", str(conf), "--port", str(free_port())], tmp_path)
    assert proc.returncode == 2
    assert "invalid value 'yes' for orderMessageEnable: expected true or false" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture
def http_port() -> Iterator[int]:
    """A minimal HTTP server: answers anything it receives with ``400 Bad Request`` (as real ones do)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    conn.sendall(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_a_namesrv_address_that_is_an_http_server_is_named_as_such(http_port: int) -> None:
    producer = SyncProducer("http_peer_p", namesrv_addr=f"127.0.0.1:{http_port}")
    try:
        with pytest.raises(ClientError) as info:
            producer.send(Message("SomeTopic", b"x"), timeout=10)
    finally:
        producer.shutdown()
    chain = []
    exc: BaseException | None = info.value
    while exc is not None:
        chain.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    text = " | ".join(chain)
    assert "does not speak the RocketMQ remoting protocol" in text, text
    assert "1213486160" not in text
    assert "does not speak the RocketMQ remoting protocol" in str(info.value), str(info.value)


def create_topic(namesrv_addr: str, broker_addr: str, topic: str) -> None:
    async def go() -> None:
        async with Admin(namesrv_addr) as admin:
            await admin.create_topic(topic, broker_addr=broker_addr)
            await admin.wait_for_route(topic, timeout=30)

    asyncio.run(go())


def test_sql92_listener_on_a_broker_without_property_filter_fails_at_start(cluster: Cluster) -> None:
    create_topic(cluster.namesrv_addr, cluster.broker_addr, "SqlTopic")

    async def start() -> None:
        consumer = PushConsumer("sql_g", namesrv_addr=cluster.namesrv_addr)
        consumer.subscribe("SqlTopic", "a > 1", "SQL92")

        async def listener(msgs: object) -> ConsumeResult:
            return ConsumeResult.SUCCESS

        consumer.register_listener(listener)
        await consumer.start()

    with pytest.raises(MQClientError) as info:
        asyncio.run(start())
    assert "rejects the SQL92 subscription to SqlTopic 'a > 1'" in str(info.value)
    assert "set enablePropertyFilter=true in that broker's broker.conf" in str(info.value)

    container = ListenerContainer(
        build_spec(lambda p: None, topic="SqlTopic", consumer_group="sql_g2", selector_type="SQL92",
                   selector_expression="a > 1"),
        namesrv_addr=cluster.namesrv_addr,
    )  # fmt: skip
    with pytest.raises(MQClientError, match="enablePropertyFilter=true"):
        container.start()
    assert not container.is_running()


def test_topic_whose_only_broker_died_says_no_broker_serves_it(servers: ServerGroup, tmp_path: Path) -> None:
    namesrv = servers.namesrv()
    broker = servers.broker(namesrv)
    create_topic(namesrv.addr, broker.addr, "LonelyTopic")
    with SyncProducer("lonely_p", namesrv_addr=namesrv.addr) as producer:
        producer.send(Message("LonelyTopic", b"before"))
    broker.kill()
    with SyncProducer("lonely_p2", namesrv_addr=namesrv.addr) as producer:
        with pytest.raises(NoRouteError) as info:
            producer.send(Message("LonelyTopic", b"after"))
    text = str(info.value)
    assert "the NameServer knows no broker serving it" in text
    assert "every broker serving it is down" in text


def test_our_broker_reports_4_9_8_yet_probes_as_having_the_5x_features(cluster: Cluster) -> None:
    async def probe() -> tuple[bool, int | None]:
        async with Admin(cluster.namesrv_addr) as admin:
            features = admin.client.features
            has = await features.has_5x(cluster.broker_addr)
            return has, features.version(cluster.broker_addr)

    has_5x, version = asyncio.run(probe())
    assert has_5x is True
    assert version == 409  # V4_9_8 on the wire, for 4.x clients


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.first = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.first.set()


def test_sql92_subscription_to_a_topic_created_later_logs_one_error_not_a_storm(cluster: Cluster) -> None:
    """The start-time check cannot see a topic that does not exist yet; once it does, every pull of
    every queue fails each second — logged once, naming the broker.conf key."""
    captured = Captured()
    logging.getLogger("rocketmq_integration").addHandler(captured)

    async def scenario() -> None:
        consumer = PushConsumer("sql_late_g", namesrv_addr=cluster.namesrv_addr)
        consumer.subscribe("SqlLateTopic", "a > 1", "SQL92")

        async def listener(msgs: object) -> ConsumeResult:
            return ConsumeResult.SUCCESS

        consumer.register_listener(listener)
        await consumer.start()
        try:
            async with Admin(cluster.namesrv_addr) as admin:
                await admin.create_topic("SqlLateTopic", broker_addr=cluster.broker_addr)
            await asyncio.get_running_loop().run_in_executor(None, captured.first.wait, 30)
            await asyncio.sleep(3.0)  # three retry rounds on four queues: twelve failed pulls
        finally:
            await consumer.shutdown()

    try:
        asyncio.run(scenario())
    finally:
        logging.getLogger("rocketmq_integration").removeHandler(captured)
    messages = [
        r.getMessage() for r in captured.records if "pull" in r.getMessage() or "filter" in r.getMessage()
    ]
    assert len(messages) == 1, messages
    assert "cannot filter by SQL92: set enablePropertyFilter=true" in messages[0]
