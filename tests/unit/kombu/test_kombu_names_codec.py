"""Name encoding (reversible, RocketMQ charset and length) and the message body codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker_core.message.names import is_name_legal
from rocketmq_integration.kombu import codec, names


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("celery", "celery"),
        ("celery.pidbox", "celery_pidbox"),
        ("celery@host-1.celery.pidbox", "celery|40host-1_celery_pidbox"),
        ("a_b:c", "a|5fb|3ac"),
        ("é", "|e9"),
        ("€", "|u20ac"),
    ],
)
def test_celery_names_encode_readably_and_decode_back(name: str, encoded: str) -> None:
    assert names.encode(name) == encoded
    assert names.decode(encoded) == name
    assert is_name_legal(encoded)


@given(st.text(min_size=1, max_size=40))
def test_any_short_name_round_trips_and_is_legal(name: str) -> None:
    enc = names.encode(name, max_len=10_000)
    assert is_name_legal(enc)
    assert names.decode(enc) == name


def test_long_names_are_shortened_with_a_hash_and_stay_distinct() -> None:
    a, b = "x." * 60 + "a", "x." * 60 + "b"
    ea, eb = names.encode(a), names.encode(b)
    assert ea != eb
    assert len(ea) <= names.MAX_ENCODED and is_name_legal(ea)
    assert names.decode(ea) is None


def test_exchange_topics_cannot_collide_with_queue_topics() -> None:
    topic = names.exchange_topic("celery.pidbox")
    assert topic.startswith(names.EXCHANGE_MARK) and is_name_legal(topic)
    assert names.decode(topic) is None


def test_empty_name_is_refused() -> None:
    with pytest.raises(ValueError):
        names.encode("")


def test_codec_round_trips_str_and_bytes_bodies() -> None:
    payload = {
        "body": '{"args": [1]}',
        "content-type": "application/json",
        "content-encoding": "utf-8",
        "headers": {"id": "abc", "eta": None},
        "properties": {"delivery_tag": "x", "priority": 3, "delivery_info": {"routing_key": "rk"}},
    }
    back = codec.decode(codec.encode(payload))
    assert back["body"] == payload["body"]
    assert back["headers"] == payload["headers"]
    assert back["properties"] == {"priority": 3, "delivery_info": {"routing_key": "rk"}}
    binary = dict(payload, body=b"\x00\xff")
    assert codec.decode(codec.encode(binary))["body"] == b"\x00\xff"


def test_foreign_message_body_becomes_opaque_data() -> None:
    raw = codec.decode(b"hello from java")
    assert raw["body"] == b"hello from java"
    assert raw["content-type"] == "application/data"
    assert raw["headers"] == {}
