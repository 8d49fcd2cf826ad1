"""Listener containers end to end: batch, broadcast, outcomes, retry/DLQ, conversion errors,
idempotency and graceful shutdown, against a real broker subprocess."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from broker_core.message.model import Message
from rocketmq_integration.idempotency import DbApiIdempotencyStore
from rocketmq_integration.listeners import (
    DiscardMessage,
    MessageContext,
    MessageModel,
    MetricsMiddleware,
    ReconsumeLater,
    SendToDeadLetter,
)
from rocketmq_integration.pytest_plugin import MessageCollector

from .helpers import Order, dlq_count, new_topic


def test_batch_listener_receives_lists(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "l_batch", queues=1)
    rocketmq_template.send_batch(topic, [{"i": i} for i in range(20)])
    batches: list[list[dict[str, int]]] = []
    seen = MessageCollector()

    def on_batch(items: list[dict[str, int]]) -> None:
        batches.append(items)
        for item in items:
            seen(item)

    rocketmq_listeners.run(
        on_batch,
        topic=topic,
        consumer_group=rocketmq_cluster.unique("l_batch_g"),
        batch=True,
        batch_max_size=8,
    )
    seen.wait_for(20, 30)
    assert sorted(x["i"] for x in seen.items) == list(range(20))
    assert all(isinstance(b, list) for b in batches)
    assert max(len(b) for b in batches) > 1 and max(len(b) for b in batches) <= 8


def test_broadcasting_delivers_to_every_member(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any, tmp_path: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "l_bcast", queues=2)
    group = rocketmq_cluster.unique("l_bcast_g")
    import dataclasses

    rocketmq_listeners.consumer_config = dataclasses.replace(
        rocketmq_listeners.consumer_config, offset_store_dir=tmp_path
    )
    a, b = MessageCollector(), MessageCollector()
    for i, col in enumerate((a, b)):
        rocketmq_listeners.run(
            col, topic=topic, consumer_group=group, message_model=MessageModel.BROADCASTING,
            instance_name=f"bcast{i}", name=f"bcast{i}",
        )  # fmt: skip
    for i in range(6):
        rocketmq_template.send(topic, {"i": i})
    assert sorted(x["i"] for x in a.wait_for(6, 30)) == list(range(6))
    assert sorted(x["i"] for x in b.wait_for(6, 30)) == list(range(6))


def test_reconsume_later_is_retried_with_delay(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "l_retry")
    seen = MessageCollector()

    def handler(payload: dict[str, int], ctx: MessageContext) -> None:
        seen(payload, ctx)
        if ctx.reconsume_times == 0:
            raise ReconsumeLater(delay_level=2)

    container = rocketmq_listeners.run(
        handler, topic=topic, consumer_group=rocketmq_cluster.unique("l_retry_g")
    )
    rocketmq_template.send(topic, {"n": 1})
    seen.wait_for(2, 30)
    assert [c.reconsume_times for c in seen.contexts] == [0, 1]
    assert seen.times[1] - seen.times[0] >= 0.8  # level 2 = 1 s in this broker.conf
    stats = container.wait_settled(2, 10)
    assert stats.failed == 1 and stats.succeeded == 1


def test_dlq_after_max_retries_and_send_to_dead_letter(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "l_dlq")
    group = rocketmq_cluster.unique("l_dlq_g")
    seen = MessageCollector()

    def always_fails(payload: dict[str, str], ctx: MessageContext) -> None:
        seen(payload, ctx)
        if payload["mode"] == "dead":
            raise SendToDeadLetter()
        raise RuntimeError("boom")

    rocketmq_listeners.run(always_fails, topic=topic, consumer_group=group, max_reconsume_times=2)
    rocketmq_template.send(topic, {"mode": "fail"})
    rocketmq_template.send(topic, {"mode": "dead"})
    assert dlq_count(rocketmq_cluster, group, 2) == 2
    fails = [c.reconsume_times for p, c in zip(seen.items, seen.contexts, strict=True) if p["mode"] == "fail"]
    deads = [c for p, c in zip(seen.items, seen.contexts, strict=True) if p["mode"] == "dead"]
    assert fails == [0, 1, 2]  # first delivery + max_reconsume_times retries, then the DLQ
    assert len(deads) == 1


def test_conversion_error_goes_to_retry_then_dlq_and_container_survives(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "l_conv")
    group = rocketmq_cluster.unique("l_conv_g")
    good = MessageCollector()

    def on_order(order: Order) -> None:
        good(order)

    container = rocketmq_listeners.run(on_order, topic=topic, consumer_group=group, max_reconsume_times=1)
    rocketmq_template.send(topic, b"{not json")
    assert dlq_count(rocketmq_cluster, group, 1) == 1
    rocketmq_template.send(topic, {"order_id": 1, "amount": "1", "at": "2026-01-01T00:00:00+00:00"})
    assert good.wait_for(1, 30)[0].order_id == 1
    stats = container.wait_settled(3, 10)
    assert stats.conversion_errors == 2 and stats.succeeded == 1 and container.is_running()


def test_discard_acknowledges_and_metrics_count(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "l_discard")
    metrics = MetricsMiddleware()
    seen = MessageCollector()

    def handler(payload: str) -> None:
        seen(payload)
        if payload == "drop":
            raise DiscardMessage()

    container = rocketmq_listeners.run(
        handler,
        topic=topic,
        consumer_group=rocketmq_cluster.unique("l_disc_g"),
        middlewares=[metrics],
        name="discarder",
    )
    rocketmq_template.send(topic, "drop")
    rocketmq_template.send(topic, "keep")
    seen.wait_for(2, 30)
    container.wait_settled(2, 10)
    snap = metrics.snapshot("discarder")
    assert (snap.discarded, snap.succeeded, snap.failed) == (1, 1, 0)
    assert container.stats().discarded == 1


def test_idempotent_listener_processes_duplicates_once(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any, tmp_path: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "l_idem")
    by_key, by_id = MessageCollector(), MessageCollector()
    c1 = rocketmq_listeners.run(
        by_key,
        topic=topic,
        consumer_group=rocketmq_cluster.unique("idem_key"),
        idempotent="key",
        name="idem_key",
    )
    db = DbApiIdempotencyStore(lambda: sqlite3.connect(tmp_path / "dedupe.sqlite3", timeout=10))
    db.create_table()
    rocketmq_listeners.idempotency_store = db  # the msg-id listener dedupes in a shared table
    c2 = rocketmq_listeners.run(
        by_id, topic=topic, consumer_group=rocketmq_cluster.unique("idem_id"), idempotent=True, name="idem_id"
    )
    rocketmq_template.send(topic, {"pay": 1}, keys="order-1")
    rocketmq_template.send(topic, {"pay": 1}, keys="order-1")  # a business-level re-send
    raw = Message(topic, b'{"pay":2}')
    rocketmq_template.send(topic, raw)
    rocketmq_template.send(topic, raw)  # a producer-level re-send: same UNIQ_KEY msg id
    rocketmq_template.send(topic, {"pay": 3}, keys="order-3")
    by_key.wait_for(2, 30)
    by_id.wait_for(4, 30)
    c1.wait_settled(5, 15)
    c2.wait_settled(5, 15)
    # key mode: order-1 twice -> once; the raw message has no key, so its msg id is the key
    assert sorted(p["pay"] for p in by_key.items) == [1, 2, 3]
    assert sorted(p["pay"] for p in by_id.items) == [1, 1, 2, 3]
    assert c1.stats().duplicates == 2 and c2.stats().duplicates == 1


def test_graceful_stop_finishes_in_flight_and_restart_redelivers_nothing_acked(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "l_drain", queues=2)
    group = rocketmq_cluster.unique("l_drain_g")
    for i in range(30):
        rocketmq_template.send(topic, {"i": i})
    first = MessageCollector()
    started = threading.Event()

    def slow(payload: dict[str, int]) -> None:
        started.set()
        time.sleep(0.05)
        first(payload)

    container = rocketmq_listeners.run(slow, topic=topic, consumer_group=group, concurrency=2, name="drain1")
    assert started.wait(30)
    first.wait_for(3, 30)
    container.stop()  # mid-stream
    done_first = [p["i"] for p in first.items]
    stats = container.stats()
    assert stats.in_flight == 0 and stats.succeeded == len(done_first)
    second = MessageCollector()
    rocketmq_listeners.run(second, topic=topic, consumer_group=group, name="drain2")
    remaining = 30 - len(done_first)
    if remaining:
        second.wait_for(remaining, 30)
    time.sleep(1.0)  # nothing acknowledged may come back: give a redelivery the chance to show up
    done_second = [p["i"] for p in second.items]
    assert not set(done_first) & set(done_second)
    assert sorted(done_first + done_second) == list(range(30))


def test_di_container_runner_starts_registered_listeners(rocketmq_cluster: Any) -> None:
    from rocketmq_integration.containers import RocketMQContainer
    from rocketmq_integration.listeners import ConsumeFrom, ListenerRegistry, rocketmq_listener

    topic = new_topic(rocketmq_cluster, "l_runner")
    registry = ListenerRegistry()
    got, off = MessageCollector(), MessageCollector()
    rocketmq_listener(
        topic=topic, consumer_group=rocketmq_cluster.unique("runner_on"), consume_from=ConsumeFrom.FIRST_OFFSET,
        registry=registry, name="on",
    )(got)  # fmt: skip
    rocketmq_listener(
        topic=topic, consumer_group=rocketmq_cluster.unique("runner_off"), registry=registry, name="off",
        enabled=False,
    )(off)  # fmt: skip
    di = RocketMQContainer()
    di.config.from_dict(
        {
            "name_server": rocketmq_cluster.namesrv_addr,
            "producer": {"group": rocketmq_cluster.unique("di_pg")},
        }
    )
    di.listener_registry.override(registry)
    runner = di.listener_runner()
    started = runner.start()
    try:
        assert [c.spec.name for c in started] == ["on"]
        di.template().send(topic, {"via": "di"})
        assert got.wait_for(1, 30) == [{"via": "di"}]
        started[0].wait_settled(1, 10)  # middleware after() runs before the message is settled
        assert di.metrics().snapshot("on").succeeded == 1
    finally:
        runner.stop()
        di.templates().close()
    assert not started[0].is_running() and len(off) == 0


def test_no_retry_policy_and_per_listener_converter(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "l_policy")
    group = rocketmq_cluster.unique("l_policy_g")
    seen = MessageCollector()

    def fails(payload: bytes) -> None:
        seen(payload)
        raise RuntimeError("no retries wanted")

    # delay_level_when_next_consume=-1: a failure goes straight to the DLQ (rocketmq-spring semantics);
    # converter="bytes": the raw body whatever its contentType
    rocketmq_listeners.run(
        fails, topic=topic, consumer_group=group, delay_level_when_next_consume=-1, converter="bytes"
    )
    rocketmq_template.send(topic, {"json": True})
    assert dlq_count(rocketmq_cluster, group, 1) == 1
    assert seen.items == [b'{"json":true}']
