"""GrpcProducer's Message -> v2 mapping (no network)."""

from __future__ import annotations

import time

from broker_core.message.model import Message
from broker_core.proxy.v2 import definition_pb2 as pb
from rocketmq_integration.client.grpc_producer import GrpcProducer


def producer() -> GrpcProducer:
    return GrpcProducer("pg", endpoints="127.0.0.1:1")


def test_tags_keys_and_user_properties() -> None:
    msg = Message("T", b"body", properties={"TAGS": "A", "KEYS": "k1 k2", "color": "red", "UNIQ_KEY": "U1"})
    v2 = producer()._v2(msg)
    sp = v2.system_properties
    assert (v2.topic.name, v2.body, sp.tag, list(sp.keys)) == ("T", b"body", "A", ["k1", "k2"])
    assert sp.message_id == "U1" and sp.message_type == pb.NORMAL
    assert dict(v2.user_properties) == {"color": "red"}


def test_sharding_key_is_a_fifo_group_and_delay_level_a_delivery_time() -> None:
    fifo = producer()._v2(Message("T", b"x"), group="g1")
    assert fifo.system_properties.message_group == "g1" and fifo.system_properties.message_type == pb.FIFO
    before = int(time.time() * 1000)
    delayed = (
        producer()._v2(Message("T", b"x", properties={"DELAY": "3"})).system_properties
    )  # level 3 = 10 s
    at = delayed.delivery_timestamp.seconds * 1000 + delayed.delivery_timestamp.nanos // 1_000_000
    assert delayed.message_type == pb.DELAY and before + 9_000 <= at <= int(time.time() * 1000) + 10_000
    assert "DELAY" not in producer()._v2(Message("T", b"x", properties={"DELAY": "3"})).user_properties
