"""Template/listener features built on the newer client parts: orderly consumption, SQL92
selectors, request-reply, transactions with check-back, timer messages."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections import defaultdict
from typing import Any

import pytest

from rocketmq_integration.client.request_reply import RequestTimeoutError
from rocketmq_integration.errors import ListenerConfigError, MQClientError
from rocketmq_integration.listeners import (
    ConsumeMode,
    ListenerRegistry,
    MessageContext,
    SelectorType,
    rocketmq_listener,
    rocketmq_tag_handler,
)
from rocketmq_integration.pytest_plugin import MessageCollector
from rocketmq_integration.transactions import (
    LocalTransactionState,
    TransactionListenerRegistry,
    TransactionMessage,
    rocketmq_transaction_listener,
)

from .helpers import Order, new_topic


def test_orderly_listener_keeps_per_key_order_under_concurrency_8(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "f_orderly", queues=4)
    keys = [f"user-{k}" for k in range(6)]
    per_key = 15
    for seq in range(per_key):
        for key in keys:
            rocketmq_template.send_orderly(topic, {"key": key, "seq": seq}, hash_key=key)
    seen: dict[str, list[int]] = defaultdict(list)
    lock = threading.Lock()
    total = MessageCollector()

    def handler(payload: dict[str, Any]) -> None:
        time.sleep(0.001)
        with lock:
            seen[payload["key"]].append(payload["seq"])
        total(payload)

    rocketmq_listeners.run(
        handler, topic=topic, consumer_group=rocketmq_cluster.unique("f_orderly_g"),
        consume_mode=ConsumeMode.ORDERLY, concurrency=8,
    )  # fmt: skip
    total.wait_for(per_key * len(keys), 60)
    assert all(seen[k] == list(range(per_key)) for k in keys), dict(seen)


def test_orderly_failure_suspends_and_retries_in_place(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "f_orderly_fail", queues=1)
    seen = MessageCollector()
    failed = threading.Event()

    def handler(payload: int) -> None:
        seen(payload)
        if payload == 1 and not failed.is_set():
            failed.set()
            raise RuntimeError("transient")

    for i in range(3):
        rocketmq_template.send_orderly(topic, i, hash_key="k")
    rocketmq_listeners.run(
        handler, topic=topic, consumer_group=rocketmq_cluster.unique("f_of_g"), consume_mode=ConsumeMode.ORDERLY,
        suspend_current_queue_time=0.1,
    )  # fmt: skip
    assert seen.wait_for(4, 30) == [0, 1, 1, 2]


def test_sql92_selector(rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any) -> None:
    topic = new_topic(rocketmq_cluster, "f_sql", queues=1)
    seen = MessageCollector()
    rocketmq_listeners.run(
        seen, topic=topic, consumer_group=rocketmq_cluster.unique("f_sql_g"),
        selector_type=SelectorType.SQL92, selector_expression="a > 2 AND region = 'eu'",
        consume_mode=ConsumeMode.ORDERLY,
    )  # fmt: skip
    for a in range(1, 6):
        rocketmq_template.send(topic, {"a": a}, headers={"a": a, "region": "eu" if a != 4 else "us"})
    rocketmq_template.send(topic, {"a": 99}, headers={"region": "eu"})  # no 'a': does not match
    # positive control, sent last to the one queue and consumed in order: when it has arrived, every
    # message before it has been filtered (no waiting for something that should not come)
    rocketmq_template.send(topic, {"a": 100}, headers={"a": 100, "region": "eu"})
    items = seen.wait_for(3, 30)
    assert [p["a"] for p in items] == [3, 5, 100]


def test_reply_listener_with_send_and_receive(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "f_rr")

    def price(order: Order) -> dict[str, Any]:
        return {"order_id": order.order_id, "total": str(float(order.amount) * 2)}

    rocketmq_listeners.run(price, topic=topic, consumer_group=rocketmq_cluster.unique("f_rr_g"))
    request = {"order_id": 5, "amount": "2.5", "at": "2026-01-01T00:00:00+00:00"}
    assert rocketmq_template.send_and_receive(topic, request, timeout=10) == {"order_id": 5, "total": "5.0"}
    fut = rocketmq_template.send_and_receive_async(topic, request, timeout=10)
    assert fut.result(15)["total"] == "5.0"
    assert asyncio.run(rocketmq_template.asend_and_receive(topic, request, timeout=10))["order_id"] == 5
    silent = new_topic(rocketmq_cluster, "f_rr_none")
    with pytest.raises(RequestTimeoutError):
        rocketmq_template.send_and_receive(silent, request, timeout=1.0)


def test_transaction_listeners_commit_rollback_and_check_back(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    orders = new_topic(rocketmq_cluster, "f_tx_orders", queues=1)
    audit = new_topic(rocketmq_cluster, "f_tx_audit")
    registry = TransactionListenerRegistry()
    checked: list[str | None] = []

    @rocketmq_transaction_listener(
        producer_group=rocketmq_cluster.unique("tx_orders"), destinations=[orders], registry=registry
    )
    class OrderTx:
        def execute_local_transaction(self, message: TransactionMessage, arg: Any) -> LocalTransactionState:
            return {"commit": LocalTransactionState.COMMIT, "rollback": LocalTransactionState.ROLLBACK}.get(
                arg, LocalTransactionState.UNKNOWN
            )

        def check_local_transaction(self, message: TransactionMessage) -> LocalTransactionState:
            checked.append(message.keys)
            return LocalTransactionState.COMMIT

    audit_group = rocketmq_cluster.unique("tx_audit")

    @rocketmq_transaction_listener(producer_group=audit_group, destinations=[audit], registry=registry)
    class AuditTx:
        async def execute_local_transaction(
            self, message: TransactionMessage, arg: Any
        ) -> LocalTransactionState:
            assert message.payload == {"audit": 1}
            return LocalTransactionState.COMMIT

        async def check_local_transaction(self, message: TransactionMessage) -> LocalTransactionState:
            return LocalTransactionState.ROLLBACK

    got = MessageCollector()
    rocketmq_listeners.run(
        got, topic=orders, consumer_group=rocketmq_cluster.unique("tx_c"), consume_mode=ConsumeMode.ORDERLY
    )
    got_audit = MessageCollector()
    rocketmq_listeners.run(got_audit, topic=audit, consumer_group=rocketmq_cluster.unique("tx_ca"))
    t = rocketmq_template
    r1 = t.send_in_transaction(orders, {"o": "commit"}, "commit", keys="c1", registry=registry)
    r2 = t.send_in_transaction(orders, {"o": "rollback"}, "rollback", keys="r1", registry=registry)
    r3 = t.send_in_transaction(orders, {"o": "unknown"}, "later", keys="u1", registry=registry)
    assert (r1.local_state.name, r2.local_state.name, r3.local_state.name) == (
        "COMMIT_MESSAGE", "ROLLBACK_MESSAGE", "UNKNOW",
    )  # fmt: skip
    t.send_in_transaction(f"{audit}:x", {"audit": 1}, registry=registry)  # routed by destination
    assert got_audit.wait_for(1, 30) == [{"audit": 1}]
    items = got.wait_for(2, 30)  # the commit now, the unknown one after the broker's check-back
    assert sorted(p["o"] for p in items) == ["commit", "unknown"]
    assert "u1" in checked
    # positive control: a plain message behind the three outcomes in the one, orderly consumed queue
    t.send(orders, {"o": "control"})
    assert [p["o"] for p in got.wait_for(3, 30)] == ["commit", "unknown", "control"]
    assert len(got) == 3  # the rolled-back message never arrived
    with pytest.raises(MQClientError, match="cannot choose"):
        t.send_in_transaction("NoSuchTxTopic", {}, registry=registry)
    with pytest.raises(ListenerConfigError, match="producer_group"):
        rocketmq_transaction_listener(producer_group=audit_group, registry=registry)(OrderTx)


@pytest.mark.rocketmq_5x
def test_timer_messages_send_delayed_and_send_at(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "f_timer")
    seen = MessageCollector()
    rocketmq_listeners.run(seen, topic=topic, consumer_group=rocketmq_cluster.unique("f_timer_g"))
    start = time.monotonic()
    rocketmq_template.send_delayed(topic, "after-2s", 2.0)
    rocketmq_template.send_at(topic, "at-1s", time.time() + 1.0)
    rocketmq_template.send(topic, "level-1", delay_level=1)  # 1 s in this broker.conf
    rocketmq_template.send(topic, "now")
    items = seen.wait_for(4, 30)
    offsets = {p: t - start for p, t in zip(items, seen.times, strict=True)}
    assert items[0] == "now"
    assert offsets["after-2s"] >= 1.5 and offsets["at-1s"] >= 0.5 and offsets["level-1"] >= 0.5


def test_listener_context_has_reconsume_and_ids(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "f_ctx")
    seen = MessageCollector()

    async def handler(payload: str, ctx: MessageContext) -> None:
        seen(payload, ctx)

    rocketmq_listeners.run(handler, topic=topic, consumer_group=rocketmq_cluster.unique("f_ctx_g"))
    result = rocketmq_template.send(f"{topic}:t1", "x", keys="k")
    seen.wait_for(1, 30)
    ctx = seen.contexts[0]
    assert (ctx.msg_id, ctx.tags, ctx.keys, ctx.reconsume_times) == (result.msg_id, "t1", "k", 0)
    assert ctx.queue_id == result.message_queue.queue_id and ctx.queue_offset == result.queue_offset


@pytest.mark.rocketmq_5x
def test_receive_and_ack_pull_style(rocketmq_cluster: Any, rocketmq_template: Any) -> None:
    topic = new_topic(rocketmq_cluster, "f_pop", queues=2)
    group = rocketmq_cluster.unique("f_pop_g")
    t = rocketmq_template
    assert t.receive(topic, group=group, wait=0.5) == []  # registers the group's position
    for i in range(3):
        t.send(topic, {"i": i})
    got: list[Any] = []
    deadline = time.monotonic() + 20
    while len(got) < 3 and time.monotonic() < deadline:
        got += t.receive(topic, group=group, max_messages=8, invisible_duration=2.0, wait=1.0)
    assert sorted(r.payload["i"] for r in got) == [0, 1, 2]
    for r in got[1:]:
        t.ack(r)
    extended = t.change_invisible_duration(got[0], 0.5)  # not acked: comes back after the lease
    assert extended.receipt_handle != got[0].receipt_handle
    again: list[Any] = []
    deadline = time.monotonic() + 20
    while not again and time.monotonic() < deadline:
        again = t.receive(topic, group=group, wait=1.0, invisible_duration=5.0)
    assert [r.payload for r in again] == [got[0].payload]
    t.ack(again[0])


def test_tag_handlers_route_within_one_group(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "f_tags")
    default, created, paid = MessageCollector(), MessageCollector(), MessageCollector()

    @rocketmq_listener(
        topic=topic, consumer_group=rocketmq_cluster.unique("f_tags_g"), registry=ListenerRegistry()
    )
    def orders(payload: Any) -> None:
        default(payload)

    @rocketmq_tag_handler(orders, "created")
    def on_created(order: Order, ctx: MessageContext) -> None:
        created(order, ctx)

    @rocketmq_tag_handler(orders, "paid || refunded")
    def on_paid(payload: dict[str, Any]) -> None:
        paid(payload)

    rocketmq_listeners.run(orders.__rocketmq_listener__)  # type: ignore[attr-defined]
    rocketmq_template.send(
        f"{topic}:created", {"order_id": 1, "amount": "1", "at": "2026-01-01T00:00:00+00:00"}
    )
    rocketmq_template.send(f"{topic}:paid", {"order_id": 1})
    rocketmq_template.send(f"{topic}:refunded", {"order_id": 2})
    rocketmq_template.send(f"{topic}:other", "fallback")
    assert created.wait_for(1, 30)[0] == Order(1, "1", datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    assert created.contexts[0].tags == "created"
    assert sorted(p["order_id"] for p in paid.wait_for(2, 30)) == [1, 2]
    assert default.wait_for(1, 30) == ["fallback"]
