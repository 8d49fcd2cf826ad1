"""The official 5.x Python client against our proxy: route, send, receive, ack (the core path)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.proxy.conftest import ProxyCluster
from tests.support.rmq5 import Rmq5Client

pytestmark = pytest.mark.slow


def receive_all(consumer: Rmq5Client, expected: int, *, rounds: int = 40, ack: bool = True) -> list[dict]:
    """Receive (and ack) until ``expected`` distinct messages came or ``rounds`` polls ran out."""
    got: dict[str, dict] = {}
    for _ in range(rounds):
        msgs = consumer.call("receive", max=32, invisible=20)["messages"]
        if ack and msgs:
            consumer.call("ack", ids=[m["id"] for m in msgs])
        for m in msgs:
            got.setdefault(m["id"], m)
        if len(got) >= expected:
            break
    return list(got.values())


def test_send_receive_ack_normal_messages_with_properties(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]
) -> None:
    topic = proxy_cluster.topic("Normal")
    producer = rmq5()
    producer.call("producer", topics=[topic])
    specs = [
        {"topic": topic, "body": f"m{i}", "tag": "TagA", "keys": [f"k{i}", "shared"], "props": {"p": str(i)}}
        for i in range(20)
    ]
    ids = producer.call("send", messages=specs)["ids"]
    assert len(set(ids)) == 20

    consumer = rmq5()
    consumer.call("simple", group="GNormal", topic=topic)
    got = receive_all(consumer, 20)
    assert sorted(m["id"] for m in got) == sorted(ids)
    by_body = {m["body"]: m for m in got}
    m7 = by_body["m7"]
    assert m7["topic"] == topic
    assert m7["tag"] == "TagA"
    assert m7["keys"] == ["k7", "shared"]
    assert m7["props"] == {"p": "7"}
    assert m7["attempt"] == 1
    assert not m7["corrupted"]
    # all acked: nothing comes back
    assert consumer.call("receive", max=32, invisible=20)["messages"] == []
