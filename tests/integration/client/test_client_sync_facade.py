"""Blocking SyncProducer / SyncPushConsumer against real servers."""

from __future__ import annotations

import threading

import pytest

from rocketmq_integration.client import (
    ConsumeResult,
    MessageExt,
    SendStatus,
    SyncProducer,
    SyncPushConsumer,
)
from tests.integration.client.helpers import (
    CLIENT,
    CONSUMER,
    assert_same_content,
    create_topic,
    run,
    to_message,
    unique,
)
from tests.support.cluster import Cluster
from tests.support.payloads import make_message

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_sync_producer_and_consumer(cluster: Cluster) -> None:
    topic = unique("Sync")
    run(create_topic(cluster.namesrv_addr, cluster.broker_addr, topic))
    with SyncProducer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT) as producer:
        for i in range(10):
            assert producer.send(to_message(topic, make_message(i, "s"))).status is SendStatus.SEND_OK
        producer.send_batch([to_message(topic, make_message(i, "s")) for i in range(10, 15)])
        producer.send_oneway(to_message(topic, make_message(15, "s")))

    got: dict[int, MessageExt] = {}
    lock = threading.Lock()
    done = threading.Event()

    def listener(msgs: list[MessageExt]) -> ConsumeResult:  # sync: runs in the consumer's thread pool
        with lock:
            for m in msgs:
                got[int(m.properties["idx"])] = m
            if len(got) >= 16:
                done.set()
        return ConsumeResult.SUCCESS

    consumer = SyncPushConsumer(
        unique("cg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT, config=CONSUMER
    )
    consumer.subscribe(topic)
    consumer.register_listener(listener)
    with consumer:
        assert done.wait(60.0), f"got {len(got)} of 16"
    assert sorted(got) == list(range(16))
    for m in got.values():
        assert_same_content(m, "s")


def test_sync_producer_is_fork_safe(cluster: Cluster) -> None:
    """A forked child sending through the parent's SyncProducer builds its own loop and connections."""
    import multiprocessing

    topic = unique("Fork")
    run(create_topic(cluster.namesrv_addr, cluster.broker_addr, topic))
    producer = SyncProducer(unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT)
    try:
        producer.send(to_message(topic, make_message(0, "f")))  # parent's loop thread and sockets exist
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()

        def child() -> None:
            try:
                status = producer.send(to_message(topic, make_message(1, "f"))).status
                results.put(status.value)
            except BaseException as exc:  # report, don't hang the parent
                results.put(repr(exc))

        proc = ctx.Process(target=child)
        proc.start()
        proc.join(60)
        assert results.get(timeout=5) == SendStatus.SEND_OK.value
        assert producer.send(to_message(topic, make_message(2, "f"))).status is SendStatus.SEND_OK
    finally:
        producer.shutdown()
