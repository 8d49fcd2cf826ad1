"""KVConfigManager persistence: Apache's file shape, the .bak fallback, in-memory mode."""

from __future__ import annotations

from pathlib import Path

from broker_core.namesrv.kv_config import KVConfigManager
from broker_core.remoting import fastjson


def test_in_memory_without_path() -> None:
    kv = KVConfigManager()
    kv.load()
    kv.put("ns", "k", "v")
    kv.save()  # no-op
    assert kv.get("ns", "k") == "v"
    assert kv.delete("ns", "k") is True
    assert kv.delete("ns", "k") is False
    assert kv.namespace("ns") is None


def test_file_shape_and_bak(tmp_path: Path) -> None:
    path = tmp_path / "kvConfig.json"
    kv = KVConfigManager(path)
    kv.load()
    kv.put("ORDER_TOPIC_CONFIG", "T", "broker-a:4")
    kv.save()
    assert fastjson.loads(path.read_bytes()) == {"configTable": {"ORDER_TOPIC_CONFIG": {"T": "broker-a:4"}}}
    kv.put("ns", "k", "v")
    kv.save()
    bak = path.with_name("kvConfig.json.bak")
    assert fastjson.loads(bak.read_bytes()) == {"configTable": {"ORDER_TOPIC_CONFIG": {"T": "broker-a:4"}}}
    assert not path.with_name("kvConfig.json.tmp").exists()


def test_corrupt_file_falls_back_to_bak(tmp_path: Path) -> None:
    path = tmp_path / "kvConfig.json"
    path.write_text("{broken", encoding="utf-8")
    path.with_name("kvConfig.json.bak").write_text('{"configTable":{"a":{"b":"c"}}}', encoding="utf-8")
    kv = KVConfigManager(path)
    kv.load()
    assert kv.get("a", "b") == "c"


def test_missing_files_mean_empty(tmp_path: Path) -> None:
    kv = KVConfigManager(tmp_path / "none" / "kvConfig.json")
    kv.load()
    assert kv.namespace("x") is None
