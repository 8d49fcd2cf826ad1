"""The template's gRPC access channel: RocketMQTemplate(access_channel="grpc") sends through the proxy."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from rocketmq_integration.errors import MQBrokerError
from rocketmq_integration.template import RocketMQTemplate
from tests.integration.proxy.conftest import ProxyCluster
from tests.integration.proxy.test_rmq5_basic import receive_all
from tests.support.rmq5 import Rmq5Client

pytestmark = pytest.mark.slow


def test_template_over_grpc_reaches_5x_consumer_with_properties(
    proxy_cluster: ProxyCluster, rmq5: Callable[..., Rmq5Client]
) -> None:
    topic = proxy_cluster.topic("TplGrpc")
    with RocketMQTemplate(
        "tpl_grpc", access_channel="grpc", endpoints=proxy_cluster.endpoint, converter="str"
    ) as t:
        plain = t.send(f"{topic}:TagT", "hello", keys=["k1", "k2"], headers={"color": "red"})
        ordered = [t.send_orderly(topic, f"o{i}", hash_key="order-1").msg_id for i in range(3)]
        batch = t.send_batch(f"{topic}:TagB", ["b0", "b1"]).msg_id.split(",")
        sent_at = time.time()
        delayed = t.send(topic, "late", delay_level=2)  # 5 s with the default levels
        with pytest.raises(MQBrokerError):
            t.send("NoSuchTopicTpl", "x")
    consumer = rmq5()
    consumer.call("simple", group="GTplGrpc", topic=topic)
    got = {m["id"]: m for m in receive_all(consumer, 7, rounds=30)}
    assert set(got) == {plain.msg_id, *ordered, *batch, delayed.msg_id}
    first = got[plain.msg_id]
    assert (first["body"], first["tag"], first["keys"]) == ("hello", "TagT", ["k1", "k2"])
    assert first["props"].get("color") == "red"
    assert [got[i]["group"] for i in ordered] == ["order-1"] * 3
    assert [got[i]["tag"] for i in batch] == ["TagB", "TagB"]
    late = got[delayed.msg_id]
    assert late["delivery_ts"] is not None and late["delivery_ts"] >= int(sent_at * 1000) + 4000


def test_grpc_access_channel_needs_endpoints() -> None:
    with pytest.raises(ValueError):
        RocketMQTemplate("tpl_bad", access_channel="grpc")
    with pytest.raises(ValueError):
        RocketMQTemplate("tpl_bad", access_channel="http")
