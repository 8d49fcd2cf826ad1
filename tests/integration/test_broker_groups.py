"""``python -m broker_core cluster --groups 2``: two broker groups behind one NameServer share a topic.

The real CLI starts a NameServer and two broker processes (broker-a, broker-b, own store and port each).
A topic auto-created from TBW102 by a producer's first sends, and one created by ``Admin`` on every
master, both get queues on the two brokers in their route; the producer's messages land on both; a
consumer group receives every one of them; Ctrl-C (SIGTERM) stops everything with exit status 0.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from broker_core.message.model import Message, MessageExt
from rocketmq_integration.client import Admin, PushConsumer
from rocketmq_integration.client.producer import Producer
from rocketmq_integration.client.results import ConsumeResult
from tests.integration.client.helpers import CLIENT, CONSUMER, run, unique
from tests.support.net import free_port
from tests.support.process import die_with_parent, server_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

GROUPS = {"broker-a", "broker-b"}
COUNT = 40


def start_cluster(tmp_path: Path, ns_port: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "cluster.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "broker_core", "cluster", "--groups", "2", "--namesrv-port", str(ns_port),
             "--port", "0", "--store-dir", str(tmp_path / "stores"), "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=server_env(),
            preexec_fn=die_with_parent,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while "serving until Ctrl-C" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"cluster did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc, log


def test_two_groups_share_topics_and_stop_cleanly(tmp_path: Path) -> None:
    ns_port = free_port()
    proc, log = start_cluster(tmp_path, ns_port)
    namesrv = f"127.0.0.1:{ns_port}"
    auto_topic, admin_topic, group = unique("GrpAuto"), unique("GrpAdmin"), unique("GrpG")
    try:

        async def scenario() -> dict[str, object]:
            out: dict[str, object] = {}
            async with Admin(namesrv) as admin:
                info = await admin.cluster_info()
                out["clusters"] = {k: set(v) for k, v in info.cluster_addr_table.items()}
                out["admin_created_on"] = await admin.create_topic(admin_topic)
                route = await admin.wait_for_route(admin_topic, min_write_queues=8, timeout=30.0)
                out["admin_route"] = {qd.broker_name for qd in route.queue_datas}
            received: list[MessageExt] = []
            async with Producer(unique("GrpP"), namesrv_addr=namesrv, client_config=CLIENT) as producer:
                auto_brokers = set()
                for i in range(COUNT):  # the first sends auto-create the topic on the brokers they reach
                    res = await producer.send(Message(auto_topic, f"auto-{i}".encode()))
                    auto_brokers.add(res.message_queue.broker_name)
                out["auto_sent_to"] = auto_brokers
                async with Admin(namesrv) as admin:
                    route = await admin.wait_for_route(auto_topic, min_write_queues=8, timeout=30.0)
                    out["auto_route"] = {qd.broker_name for qd in route.queue_datas}
                consumer = PushConsumer(group, namesrv_addr=namesrv, client_config=CLIENT, config=CONSUMER)
                consumer.subscribe(admin_topic)

                async def listen(msgs: list[MessageExt]) -> ConsumeResult:
                    received.extend(msgs)
                    return ConsumeResult.SUCCESS

                consumer.register_listener(listen)
                await consumer.start()
                admin_brokers = set()
                for i in range(COUNT):
                    res = await producer.send(Message(admin_topic, f"admin-{i}".encode()))
                    admin_brokers.add(res.message_queue.broker_name)
                out["admin_sent_to"] = admin_brokers
                for _ in range(600):
                    if len({m.body for m in received}) >= COUNT:
                        break
                    await asyncio.sleep(0.1)
                await consumer.shutdown()
            out["received"] = {m.body for m in received}
            return out

        r = run(scenario(), 180)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert r["clusters"] == {"DefaultCluster": GROUPS}, r
    assert len(r["admin_created_on"]) == 2, r  # type: ignore[arg-type]
    assert r["admin_route"] == GROUPS and r["auto_route"] == GROUPS, r
    assert r["auto_sent_to"] == GROUPS and r["admin_sent_to"] == GROUPS, r
    assert r["received"] == {f"admin-{i}".encode() for i in range(COUNT)}, r
    assert status == 0, log.read_text()[-3000:]
    assert "stopped" in log.read_text().splitlines()[-1]
