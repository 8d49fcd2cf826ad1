"""FIFO consumption: a group with consumeMessageOrderly gets each queue's messages strictly in order."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.integration.proxy.conftest import ProxyCluster
from tests.support.admin import invoke
from tests.support.rmq5 import Rmq5Client

pytestmark = pytest.mark.slow
UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200


def create_fifo_group(broker_addr: str, group: str) -> None:
    body = json.dumps({"groupName": group, "consumeMessageOrderly": True}).encode()
    assert invoke(broker_addr, UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, {}, body).code == 0


def receive(consumer: Rmq5Client, max_num: int, invisible: int = 20, wait: float = 0.0) -> list[dict]:
    """Receive once, or until something comes when ``wait`` > 0 (bounded)."""
    deadline = time.monotonic() + wait
    while True:
        msgs: list[dict] = consumer.call("receive", max=max_num, invisible=invisible)["messages"]
        if msgs or time.monotonic() >= deadline:
            return msgs


def test_fifo_group_is_locked_until_ack_and_redelivered_in_order(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]
) -> None:
    topic = proxy_cluster.topic("FifoOrder", queues=1)
    group = "GFifoOrder"
    # another group receives first, so the proxy has read (and cached) the broker's group table
    # before the FIFO group exists: its first receive must still be ordered
    other = rmq5()
    other.call("simple", group="GFifoOrderWarm", topic=topic, **{"await": 1})
    assert receive(other, 1) == []
    create_fifo_group(proxy_cluster.broker.addr, group)
    producer = rmq5()
    producer.call("producer", topics=[topic])
    producer.call("send", messages=[{"topic": topic, "body": f"m{i}", "group": "g"} for i in range(6)])
    consumer = rmq5()
    consumer.call("simple", group=group, topic=topic, **{"await": 2})

    first = receive(consumer, 2, invisible=3, wait=20)
    assert [m["body"] for m in first] == ["m0", "m1"]
    # m0/m1 in flight: the queue is locked, nothing after them is handed out
    assert receive(consumer, 2) == []
    # not acked: after the invisible time the same two come again, in order
    again = receive(consumer, 2, wait=20)
    assert [m["body"] for m in again] == ["m0", "m1"]
    consumer.call("ack", ids=[m["id"] for m in again])
    # acked: the queue unlocks and the rest follows, still in order
    rest: list[str] = []
    deadline = time.monotonic() + 30
    while len(rest) < 4 and time.monotonic() < deadline:
        msgs = receive(consumer, 2)
        rest += [m["body"] for m in msgs]
        if msgs:
            consumer.call("ack", ids=[m["id"] for m in msgs])
    assert rest == ["m2", "m3", "m4", "m5"]
