"""Official 5.x client through the proxy: FIFO, delay, transactions, invisible time, push consumer."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.integration.proxy.conftest import ProxyCluster
from tests.integration.proxy.test_rmq5_basic import receive_all
from tests.support.rmq5 import Rmq5Client, Rmq5Error

pytestmark = pytest.mark.slow


def test_fifo_messages_keep_group_order_and_group_property(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]
) -> None:
    topic = proxy_cluster.topic("Fifo")
    producer = rmq5()
    producer.call("producer", topics=[topic])
    specs = [{"topic": topic, "body": f"{g}-{i}", "group": g} for i in range(10) for g in ("ga", "gb")]
    producer.call("send", messages=specs)
    consumer = rmq5()
    consumer.call("simple", group="GFifo", topic=topic)
    got = receive_all(consumer, 20)
    assert len(got) == 20
    for g in ("ga", "gb"):
        in_group = [m for m in got if m["group"] == g]
        # one group -> one queue, stored in send order: a receive returns them in that order
        assert [m["body"] for m in in_group] == [f"{g}-{i}" for i in range(10)]


def test_delay_message_is_invisible_until_its_delivery_time(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]
) -> None:
    topic = proxy_cluster.topic("Delay")
    producer = rmq5()
    producer.call("producer", topics=[topic])
    sent_at = time.time()
    producer.call("send", messages=[{"topic": topic, "body": "later", "delivery_s": 3}])
    consumer = rmq5()
    consumer.call("simple", group="GDelay", topic=topic)
    got = receive_all(consumer, 1, rounds=15)
    assert [m["body"] for m in got] == ["later"]
    # whole seconds: the delivery time is 2..3 s after the send
    assert time.time() - sent_at >= 2.0
    assert got[0]["delivery_ts"] is not None and got[0]["delivery_ts"] >= int(sent_at) * 1000 + 2000


def test_transaction_commit_rollback_and_check_back(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]
) -> None:
    topic = proxy_cluster.topic("Tx")
    producer = rmq5()
    producer.call("producer", topics=[topic], check_answer="commit")
    committed = producer.call("tx_send", message={"topic": topic, "body": "commit"}, action="commit")["id"]
    producer.call("tx_send", message={"topic": topic, "body": "rollback"}, action="rollback")
    # neither commit nor rollback: the broker asks back through Telemetry, the checker commits
    checked = producer.call("tx_send", message={"topic": topic, "body": "checked"}, action="none")["id"]
    consumer = rmq5()
    consumer.call("simple", group="GTx", topic=topic)
    got = receive_all(consumer, 2, rounds=30)
    assert sorted(m["body"] for m in got) == ["checked", "commit"]
    assert {m["id"] for m in got} == {committed, checked}
    assert checked in producer.call("checked")["ids"]
    assert consumer.call("receive", max=32, invisible=20)["messages"] == []


def test_change_invisible_duration_and_redelivery_after_expiry(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]
) -> None:
    topic = proxy_cluster.topic("Invisible")
    producer = rmq5()
    producer.call("producer", topics=[topic])
    producer.call("send", messages=[{"topic": topic, "body": "again"}])
    consumer = rmq5()
    consumer.call("simple", group="GInv", topic=topic)
    first = receive_all(consumer, 1, ack=False)
    assert [m["attempt"] for m in first] == [1]
    # extend to 2 s, do not ack: the message comes back with delivery attempt 2
    consumer.call("change", id=first[0]["id"], invisible=2)
    again = []
    deadline = time.monotonic() + 40
    while not again and time.monotonic() < deadline:
        again = consumer.call("receive", max=1, invisible=20)["messages"]
    assert [(m["id"], m["body"], m["attempt"]) for m in again] == [(first[0]["id"], "again", 2)]
    assert again[0]["topic"] == topic
    consumer.call("ack", ids=[again[0]["id"]])


def test_push_consumer_with_tag_filter(proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]) -> None:
    topic = proxy_cluster.topic("Push")
    producer = rmq5()
    producer.call("producer", topics=[topic])
    specs = [{"topic": topic, "body": f"b{i}", "tag": "keep" if i % 2 else "drop"} for i in range(20)]
    producer.call("send", messages=specs)
    consumer = rmq5()
    consumer.call("push", group="GPush", topic=topic, tag="keep")
    deadline = time.monotonic() + 60
    pushed: list[dict] = []
    while time.monotonic() < deadline:
        pushed = consumer.call("pushed")["messages"]
        if len({m["id"] for m in pushed}) >= 10:
            break
        time.sleep(0.5)
    assert sorted({m["body"] for m in pushed}) == sorted(f"b{i}" for i in range(1, 20, 2))
    assert all(m["tag"] == "keep" for m in pushed)


def test_send_to_unknown_topic_is_topic_not_found(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]
) -> None:
    producer = rmq5()
    producer.call("producer", topics=[])
    with pytest.raises(Rmq5Error) as err:
        producer.call("send", messages=[{"topic": "NoSuchTopic404", "body": "x"}])
    # the client turns QueryRoute's TOPIC_NOT_FOUND into a route failure (raw codes: test_proxy_bad_input)
    assert "route" in err.value.error
