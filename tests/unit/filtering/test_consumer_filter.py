"""ConsumerFilterManager: heartbeat registration, versions, dead entries, consumerFilter.json."""

from __future__ import annotations

import json
from pathlib import Path

from broker_core.broker.filtering.consumer_filter import ConsumerFilterManager
from broker_core.broker.filtering.tags import tag_filter, tags_match
from broker_core.remoting.body.heartbeat import SubscriptionData, java_hash


def sql(topic: str, expr: str, version: int) -> SubscriptionData:
    return SubscriptionData.build(topic, expr, version, "SQL92")


def test_register_versions_and_dead_entries(tmp_path: Path) -> None:
    m = ConsumerFilterManager(tmp_path)
    m.register("g", [sql("T", "a > 1", 100), SubscriptionData.build("U", "*", 100)])
    data = m.get("T", "g")
    assert data is not None and data.compiled is not None and data.compiled.matches({"a": "2"})
    assert m.get("U", "g") is None  # TAG subscriptions are not kept
    m.register("g", [sql("T", "a > 5", 50)])  # older heartbeat: ignored
    assert m.get("T", "g").expression == "a > 1"  # type: ignore[union-attr]
    m.register("g", [sql("T", "a > 5", 200)])  # newer: rebuilt
    assert m.get("T", "g").expression == "a > 5"  # type: ignore[union-attr]
    m.register("g", [sql("T", "a >", 300)])  # does not compile: dropped
    assert m.get("T", "g") is None
    m.register("g", [sql("T", "b = 'x'", 400), sql("V", "c IS NULL", 400)])
    m.register("g", [sql("V", "c IS NULL", 400)])  # T no longer subscribed: dead
    assert m.table["T"]["g"].dead and not m.table["V"]["g"].dead
    m.unregister("g")
    assert m.table["V"]["g"].dead


def test_persist_and_load_in_apache_layout(tmp_path: Path) -> None:
    m = ConsumerFilterManager(tmp_path)
    m.register("g", [sql("T", "a BETWEEN 0 AND 3", 123)])
    m.persist()
    raw = json.loads((tmp_path / "consumerFilter.json").read_text())
    entry = raw["filterDataByTopic"]["T"]["groupFilterData"]["g"]
    assert entry["expression"] == "a BETWEEN 0 AND 3" and entry["clientVersion"] == 123
    assert entry["expressionType"] == "SQL92" and entry["deadTime"] == 0
    loaded = ConsumerFilterManager(tmp_path)
    loaded.load()
    data = loaded.get("T", "g")
    assert data is not None and data.compiled is not None and data.compiled.matches({"a": "1"})
    assert data.dead  # until the next heartbeat revives it
    loaded.register("g", [sql("T", "a BETWEEN 0 AND 3", 123)])
    assert not loaded.table["T"]["g"].dead


def test_tag_filter_and_client_check() -> None:
    sub = SubscriptionData.build("T", "A || C", 1)
    flt = tag_filter(sub)
    assert flt is not None and flt(java_hash("A")) and flt(java_hash("C")) and not flt(java_hash("B"))
    assert tag_filter(SubscriptionData.build("T", "*", 1)) is None
    assert tags_match(sub, "A") and not tags_match(sub, "B") and not tags_match(sub, None)
