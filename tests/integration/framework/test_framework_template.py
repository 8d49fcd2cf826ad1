"""RocketMQTemplate end to end: every send flavour, received through a listener container."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from rocketmq_integration.client import SendResult, SendStatus
from rocketmq_integration.converters import CONTENT_TYPE_PROPERTY
from rocketmq_integration.errors import ValidationError
from rocketmq_integration.listeners import MessageContext
from rocketmq_integration.pytest_plugin import MessageCollector

from .helpers import Order, new_topic


class Callback:
    def __init__(self) -> None:
        self.future: concurrent.futures.Future[SendResult] = concurrent.futures.Future()

    def on_success(self, result: SendResult) -> None:
        self.future.set_result(result)

    def on_exception(self, exc: BaseException) -> None:
        self.future.set_exception(exc)


def test_every_send_flavour_arrives_converted(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "tpl_all")
    t = rocketmq_template
    sent: list[SendResult] = []
    sent.append(
        t.send(f"{topic}:TagA", {"kind": "send"}, keys=["k1", "k2"], headers={"trace": "abc", "n": 3})
    )
    sent.append(t.send_orderly(f"{topic}:TagB", "orderly-text", hash_key="user-7"))
    sent.append(t.send_orderly(f"{topic}:TagB", "orderly-text-2", hash_key="user-7"))
    sent.append(t.send_batch(topic, [{"kind": "batch", "i": i} for i in range(3)]))
    t.send_oneway(topic, b"\x00oneway-bytes")
    cb = Callback()
    fut = t.send_async(topic, {"kind": "async"}, callback=cb)
    sent.append(fut.result(10))
    assert cb.future.result(10).msg_id == sent[-1].msg_id
    sent.append(asyncio.run(t.asend(topic, {"kind": "asend"})))
    order = Order(7, "12.50", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    sent.append(t.convert_and_send(topic, order, post_processor=lambda m: m))
    sent.append(t.sync_send(topic, {"kind": "alias", "d": Decimal("1.10")}))
    assert all(r.status is SendStatus.SEND_OK for r in sent)
    # same hash key -> same queue
    assert sent[1].message_queue == sent[2].message_queue

    collector = MessageCollector()
    rocketmq_listeners.run(collector, topic=topic, consumer_group=rocketmq_cluster.unique("tpl_all_g"))
    expected = 1 + 2 + 3 + 1 + 1 + 1 + 1 + 1
    collector.wait_for(expected, 30)
    items = collector.items
    ctxs: list[MessageContext] = collector.contexts
    by_kind = {
        p["kind"]: (p, c) for p, c in zip(items, ctxs, strict=True) if isinstance(p, dict) and "kind" in p
    }
    payload, ctx = by_kind["send"]
    assert ctx.tags == "TagA" and ctx.keys == "k1 k2"
    assert ctx.properties["trace"] == "abc" and ctx.properties["n"] == "3"
    assert ctx.properties[CONTENT_TYPE_PROPERTY] == "application/json"
    assert {"batch", "async", "asend", "alias"} <= set(by_kind)
    assert by_kind["alias"][0]["d"] == "1.10"
    assert [p for p in items if isinstance(p, str)] == ["orderly-text", "orderly-text-2"]
    assert b"\x00oneway-bytes" in items
    assert {"order_id": 7, "amount": "12.50", "at": "2026-01-02T03:04:05+00:00"} in items


def test_typed_payloads_class_and_async_listeners(
    rocketmq_cluster: Any, rocketmq_template: Any, rocketmq_listeners: Any
) -> None:
    topic = new_topic(rocketmq_cluster, "tpl_typed")
    got: list[Order] = []
    done = MessageCollector()

    prepared: list[str] = []

    class OrderListener:
        def prepare_start(self, consumer: Any) -> None:  # Spring's lifecycle hook on the raw consumer
            prepared.append(consumer.group)

        def on_message(self, order: Order) -> None:
            got.append(order)
            done(order)

    async_got = MessageCollector()

    async def on_text(text: str, ctx: MessageContext) -> None:
        await asyncio.sleep(0)
        async_got(text, ctx)

    rocketmq_listeners.run(
        OrderListener,
        topic=topic,
        consumer_group=rocketmq_cluster.unique("typed_cls"),
        selector_expression="order",
    )
    text_topic = new_topic(rocketmq_cluster, "tpl_text")
    rocketmq_listeners.run(on_text, topic=text_topic, consumer_group=rocketmq_cluster.unique("typed_async"))
    when = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    rocketmq_template.send(f"{topic}:order", Order(1, "9.99", when))
    rocketmq_template.send(f"{topic}:other", Order(2, "0", when))  # filtered by the tag selector
    rocketmq_template.send(text_topic, "héllo")
    done.wait_for(1, 30)
    assert got == [Order(1, "9.99", when)]
    assert len(prepared) == 1 and prepared[0].startswith("typed_cls")
    assert async_got.wait_for(1, 30) == ["héllo"]
    assert async_got.contexts[0].topic == text_topic


def test_asend_many_in_flight_and_errors_propagate(rocketmq_cluster: Any, rocketmq_template: Any) -> None:
    topic = new_topic(rocketmq_cluster, "tpl_asend")

    async def main() -> list[SendResult]:
        return list(await asyncio.gather(*(rocketmq_template.asend(topic, {"i": i}) for i in range(50))))

    results = asyncio.run(main())
    assert len({r.msg_id for r in results}) == 50 and all(r.status is SendStatus.SEND_OK for r in results)
    with pytest.raises(ValidationError):
        asyncio.run(rocketmq_template.asend("bad topic!", "x"))
