"""Unit tests of the framework layer that need no broker: converters, specs, registry, outcomes,
idempotency store, template message building, DI container."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import pytest

from broker_core.message.model import Message, MessageExt
from rocketmq_integration.containers import RocketMQContainer
from rocketmq_integration.converters import (
    CONTENT_TYPE_PROPERTY,
    BytesConverter,
    DefaultConverter,
    JsonConverter,
    StringConverter,
    get_converter,
)
from rocketmq_integration.errors import ConversionError, ListenerConfigError, ValidationError
from rocketmq_integration.idempotency import IdempotencyStore, InMemoryIdempotencyStore
from rocketmq_integration.listeners import (
    ConsumeMode,
    ListenerRegistry,
    MessageContext,
    MessageModel,
    ReconsumeLater,
    build_spec,
    delay_to_level,
    rocketmq_listener,
)
from rocketmq_integration.template import RocketMQTemplate, parse_destination


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Inner:
    when: dt.datetime


@dataclasses.dataclass
class Payload:
    id: uuid.UUID
    price: Decimal
    color: Color
    inner: Inner
    tags: list[str]


def test_default_converter_round_trips_rich_types() -> None:
    conv = DefaultConverter()
    p = Payload(
        uuid.uuid4(), Decimal("1.25"), Color.RED, Inner(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)), ["a"]
    )
    body, ctype = conv.to_message(p)
    assert ctype == "application/json"
    assert conv.from_message(body, ctype, Payload) == p
    assert conv.to_message(b"\x01") == (b"\x01", "application/octet-stream")
    assert conv.to_message("é") == ("é".encode(), "text/plain;charset=utf-8")
    assert conv.from_message("é".encode(), "text/plain;charset=utf-8") == "é"
    assert conv.from_message(b"\x01", "application/octet-stream") == b"\x01"
    assert conv.from_message(b'{"a":1}', None) == {"a": 1}  # foreign producer, JSON guessed
    assert conv.from_message(b"plain", None) == "plain"
    assert conv.from_message(b"\xff\xfe", None) == b"\xff\xfe"
    assert conv.from_message(b"[1,2]", "application/json", list[int]) == [1, 2]
    assert conv.from_message(b"x", "text/plain;charset=utf-8", Any) == "x"


class PydanticLike:
    def __init__(self, x: int) -> None:
        self.x = x

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return {"x": self.x}

    @classmethod
    def model_validate(cls, data: Any) -> PydanticLike:
        return cls(int(data["x"]))


def test_pydantic_hook_and_errors() -> None:
    conv = JsonConverter()
    body, _ = conv.to_message(PydanticLike(3))
    assert conv.from_message(body, None, PydanticLike).x == 3
    with pytest.raises(ConversionError, match="not valid JSON"):
        conv.from_message(b"{oops", None, Payload)
    with pytest.raises(ConversionError, match="Payload"):
        conv.from_message(b'{"id": 1}', None, Payload)
    with pytest.raises(ConversionError, match="expected int"):
        conv.from_message(b'"x"', None, int)
    with pytest.raises(ConversionError):
        conv.to_message(object())
    with pytest.raises(ConversionError):
        DefaultConverter().to_message(None)
    with pytest.raises(ConversionError):
        StringConverter().to_message(1)
    with pytest.raises(ConversionError):
        BytesConverter().to_message("s")
    with pytest.raises(ConversionError, match="unknown converter"):
        get_converter("yaml")
    assert isinstance(get_converter("str"), StringConverter)


def test_parse_destination_and_build_message() -> None:
    assert parse_destination("T:a:b") == ("T", "a:b")
    assert parse_destination("T") == ("T", "")
    for bad in ("", ":tag", "  "):
        with pytest.raises(ValidationError):
            parse_destination(bad)
    t = RocketMQTemplate("pg", namesrv_addr="127.0.0.1:1")
    msg = t.build_message(
        "T:TagA", {"a": 1}, keys=["k1", "k2"], headers={"KEYS": "ignored-by-keys-arg", "FLAG": 3, "x": 1, "none": None},
        delay_level=3,
    )  # fmt: skip
    assert (msg.topic, msg.tags, msg.keys, msg.flag, msg.delay_time_level) == ("T", "TagA", "k1 k2", 3, 3)
    assert msg.properties["x"] == "1" and "none" not in msg.properties
    assert msg.properties[CONTENT_TYPE_PROPERTY] == "application/json"
    raw = Message("Other", b"r", properties={"UNIQ_KEY": "ID1"})
    copy = t.build_message("T", raw)
    assert copy.topic == "T" and copy.body == b"r" and copy.properties["UNIQ_KEY"] == "ID1"
    with pytest.raises(ValidationError):
        t.build_message("T", "x", delay_level=-1)
    t.close()


def _fn(payload: Payload, ctx: MessageContext) -> None: ...


def test_spec_infers_payload_type_and_context() -> None:
    spec = build_spec(_fn, topic="T", consumer_group="g")
    assert spec.payload_type is Payload and spec.wants_context and not spec.is_async

    def raw(m: MessageExt) -> None: ...

    assert build_spec(raw, topic="T", consumer_group="g").payload_type is MessageExt

    def batch(items: list[Payload]) -> None: ...

    bspec = build_spec(batch, topic="T", consumer_group="g", batch=True, batch_max_size=4)
    assert bspec.payload_type is Payload and not bspec.wants_context


@pytest.mark.parametrize(
    ("attrs", "attribute"),
    [
        ({"topic": ""}, "topic"),
        ({"topic": "bad topic"}, "topic"),
        ({"consumer_group": "g!"}, "consumer_group"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 2.5}, "concurrency"),
        ({"max_reconsume_times": -2}, "max_reconsume_times"),
        ({"consume_mode": "SERIAL"}, "consume_mode"),
        ({"consume_mode": "ORDERLY", "message_model": "BROADCASTING"}, "consume_mode"),
        ({"consume_mode": ConsumeMode.ORDERLY, "message_model": MessageModel.BROADCASTING}, "consume_mode"),
        ({"selector_expression": " "}, "selector_expression"),
        ({"batch_max_size": 4}, "batch_max_size"),
        ({"consume_timeout": 0}, "consume_timeout"),
        ({"suspend_current_queue_time": 60}, "suspend_current_queue_time"),
        ({"idempotent": "hash"}, "idempotent"),
        ({"delay_level_when_next_consume": -5}, "delay_level_when_next_consume"),
        ({"consume_timestamp": "yesterday", "consume_from": None}, "consume_from"),
    ],
)
def test_invalid_listener_config_names_the_attribute(attrs: dict[str, Any], attribute: str) -> None:
    base: dict[str, Any] = {"topic": "T", "consumer_group": "g"}
    base.update(attrs)
    registry = ListenerRegistry()
    with pytest.raises(ListenerConfigError, match=f"'{attribute}'"):
        rocketmq_listener(registry=registry, **base)(_fn)
    assert len(registry) == 0


def test_bad_targets_and_unknown_attributes() -> None:
    with pytest.raises(ListenerConfigError, match="unknown listener attribute"):
        build_spec(_fn, topic="T", consumer_group="g", colour="red")

    def no_args() -> None: ...

    with pytest.raises(ListenerConfigError, match="first parameter"):
        build_spec(no_args, topic="T", consumer_group="g")

    class NoOnMessage:
        pass

    with pytest.raises(ListenerConfigError, match="on_message"):
        build_spec(NoOnMessage, topic="T", consumer_group="g")


def test_registry_rejects_inconsistent_groups_and_discovers_modules() -> None:
    registry = ListenerRegistry()

    @rocketmq_listener(topic="T", consumer_group="g", selector_expression="a", registry=registry, name="one")
    def one(payload: str) -> None: ...

    @rocketmq_listener(topic="T2", consumer_group="g2", registry=registry, name="two", enabled=False)
    class Two:
        def on_message(self, payload: str) -> None: ...

    assert [s.name for s in registry.all()] == ["one", "two"]
    assert [s.name for s in registry.enabled()] == ["one"]
    assert one.__rocketmq_listener__.topic == "T"  # type: ignore[attr-defined]
    with pytest.raises(ListenerConfigError, match="'consumer_group'"):
        rocketmq_listener(
            topic="T", consumer_group="g", selector_expression="b", registry=registry, name="three"
        )(one)
    with pytest.raises(ListenerConfigError, match="'name'"):
        rocketmq_listener(topic="X", consumer_group="x", registry=registry, name="one")(_fn)
    assert registry.autodiscover(["json", "no_such_package_xyz"]) == []
    assert registry.autodiscover(["rocketmq_integration"], module="converters") == [
        "rocketmq_integration.converters"
    ]


def test_outcomes_and_delay_levels() -> None:
    assert (
        delay_to_level(0.5) == 1
        and delay_to_level(5) == 2
        and delay_to_level(61) == 6
        and delay_to_level(1e9) == 18
    )
    assert ReconsumeLater(delay=10).delay_level == 3
    assert ReconsumeLater(delay=10, delay_level=7).delay_level == 7
    assert ReconsumeLater().delay_level is None
    with pytest.raises(ValueError):
        ReconsumeLater(delay_level=-1)


def test_in_memory_idempotency_store() -> None:
    store = InMemoryIdempotencyStore(ttl=60, processing_ttl=60, max_entries=2)
    assert isinstance(store, IdempotencyStore)
    assert store.acquire("g", "k") and not store.acquire("g", "k")
    store.release("g", "k")
    assert store.acquire("g", "k")
    store.mark_done("g", "k")
    store.release("g", "k")  # a done key is not released
    assert store.is_done("g", "k") and not store.acquire("g", "k")
    assert store.acquire("other", "k")
    expired = InMemoryIdempotencyStore(processing_ttl=0)
    assert expired.acquire("g", "k") and expired.acquire("g", "k")  # an expired claim is re-taken


def test_di_container_builds_named_templates_and_runner() -> None:
    c = RocketMQContainer()
    c.config.from_dict(
        {"name_server": "10.0.0.1:9876", "producer": {"group": "pg", "send_message_timeout": 2.0},
         "templates": {"audit": {"name_server": "10.0.0.2:9876", "producer": {"group": "audit"}}}}
    )  # fmt: skip
    t = c.template()
    assert (t.producer_group, t.namesrv_addr, t.send_timeout) == ("pg", "10.0.0.1:9876", 2.0)
    assert c.templates().get() is t
    audit = c.templates().get("audit")
    assert (audit.producer_group, audit.namesrv_addr) == ("audit", "10.0.0.2:9876")
    runner = c.listener_runner()
    assert runner.namesrv_addr == "10.0.0.1:9876" and runner.idempotency_store is c.idempotency_store()
    with c.template.override(RocketMQTemplate("fake", namesrv_addr="127.0.0.1:1")):
        assert c.template().producer_group == "fake"
    c.templates().close()


def test_dbapi_idempotency_store_on_sqlite(tmp_path: Any) -> None:
    import sqlite3
    import threading

    from rocketmq_integration.idempotency import DbApiIdempotencyStore

    path = tmp_path / "dedupe.sqlite3"
    store = DbApiIdempotencyStore(lambda: sqlite3.connect(path, timeout=10), ttl=60, processing_ttl=60)
    store.create_table()
    assert isinstance(store, IdempotencyStore)
    assert store.acquire("g", "k") and not store.acquire("g", "k")
    store.release("g", "k")
    assert store.acquire("g", "k")
    store.mark_done("g", "k")
    store.release("g", "k")
    assert store.is_done("g", "k") and not store.acquire("g", "k")
    # concurrent claimers of one key: exactly one wins
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(store.acquire("g", "race"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
    expired = DbApiIdempotencyStore(lambda: sqlite3.connect(path), processing_ttl=0)
    assert expired.acquire("g", "old") and expired.acquire("g", "old")
    with pytest.raises(ValueError):
        DbApiIdempotencyStore(lambda: None, paramstyle="named")


def test_tag_handler_validation() -> None:
    from rocketmq_integration.listeners import rocketmq_tag_handler

    registry = ListenerRegistry()

    @rocketmq_listener(topic="T", consumer_group="g", selector_expression="a || b", registry=registry)
    def listener(payload: str) -> None: ...

    @rocketmq_tag_handler(listener, "a")
    def on_a(payload: Payload) -> None: ...

    handlers = listener.__rocketmq_listener__.extra["tag_handlers"]  # type: ignore[attr-defined]
    assert handlers["a"].payload_type is Payload and not handlers["a"].wants_context
    with pytest.raises(ListenerConfigError, match="'tags'"):
        rocketmq_tag_handler(listener, "c")
    with pytest.raises(ListenerConfigError, match="'tags'"):
        rocketmq_tag_handler(listener, "*")

    async def on_b(payload: str) -> None: ...

    with pytest.raises(ListenerConfigError, match="async"):
        rocketmq_tag_handler(listener, "b")(on_b)
    with pytest.raises(ListenerConfigError, match="not a @rocketmq_listener"):
        rocketmq_tag_handler(on_b, "b")


def test_django_db_cleanup_middleware_closes_old_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from rocketmq_integration.listeners import DjangoDBCleanupMiddleware, MiddlewareChain, builtin

    calls: list[str] = []
    fake_conf = types.SimpleNamespace(settings=types.SimpleNamespace(configured=True))
    fake_db = types.SimpleNamespace(close_old_connections=lambda: calls.append("close"))
    modules = {"django.conf": fake_conf, "django.db": fake_db}
    monkeypatch.setattr(builtin.importlib, "import_module", lambda name: modules[name])
    spec = build_spec(_fn, topic="T", consumer_group="g")

    class Boom:
        def before(self, spec: Any, contexts: Any) -> None:
            raise RuntimeError("hook bug")

        def after(self, spec: Any, contexts: Any, error: Any) -> None:
            calls.append(f"after:{type(error).__name__}")

    chain = MiddlewareChain([DjangoDBCleanupMiddleware(), Boom()])
    chain.before(spec, [])  # a failing hook is logged, never raised
    chain.after(spec, [], ValueError())
    assert calls == ["close", "after:ValueError", "close"]


def test_runner_selects_enabled_and_toggled_listeners() -> None:
    from rocketmq_integration.listeners import ListenerRunner

    registry = ListenerRegistry()
    for name, group, topic, enabled in [
        ("a", "g1", "T1", True),
        ("b", "g2", "T2", True),
        ("c", "g3", "T3", False),
    ]:
        rocketmq_listener(topic=topic, consumer_group=group, registry=registry, name=name, enabled=enabled)(
            _fn
        )
    runner = ListenerRunner(registry, toggles={"g2": {"T2": False}})
    assert [s.name for s in runner.selected()] == ["a"]
    assert [s.name for s in ListenerRunner(registry).selected(names=["b", "c"])] == ["b"]
