"""Index file: golden bytes from the spec's table, the Apache 4.9.8 index file, the service, queries."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import struct
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from broker_core.config.store import StoreConfig
from broker_core.message import BrokerMessage, decode_records, encode_properties
from broker_core.store import MessageStore
from broker_core.store.checkpoint import StoreCheckpoint
from broker_core.store.index_file import IndexFile, java_string_hash, key_hash
from broker_core.store.index_service import IndexService


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def test_java_hash_code() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("héllo-✓-中") == java_string_hash("h\u00e9llo-\u2713-\u4e2d")
    assert java_string_hash("polygenelubricants") == -(2**31)  # Integer.MIN_VALUE
    assert key_hash("polygenelubricants") == 0
    assert key_hash("hello") == 99162322


def _spec_hash(text: str) -> int:
    """Independent String.hashCode: sum s[i]*31^(n-1-i) over UTF-16 units, then to signed 32 bits."""
    units = struct.unpack(f">{len(text.encode('utf-16-be')) // 2}H", text.encode("utf-16-be"))
    h = sum(u * pow(31, len(units) - 1 - i, 1 << 32) for i, u in enumerate(units)) % (1 << 32)
    h = h - (1 << 32) if h >= 1 << 31 else h
    return 0 if abs(h) >= 1 << 31 else abs(h)


def test_golden_bytes_from_spec_table(tmp_path: Path) -> None:
    slots, max_index = 4, 8
    f = IndexFile(tmp_path / "idx", slots, max_index, create=True)
    t0 = 1_700_000_000_000
    assert f.put_key("T#a", 100, t0)
    assert f.put_key("T#b", 300, t0 + 2500)
    assert f.put_key("T#a", 500, t0 + 7000)
    f.close()
    # Build the expected file from spec §1.5 by hand.
    ha, hb = _spec_hash("T#a"), _spec_hash("T#b")
    expect = bytearray(40 + slots * 4 + max_index * 20)
    slot_a, slot_b = ha % slots, hb % slots
    non_empty = len({slot_a, slot_b})
    struct.pack_into(">qqqqii", expect, 0, t0, t0 + 7000, 100, 500, non_empty, 4)
    entries = 40 + slots * 4
    prev_b = 1 if slot_b == slot_a else 0
    struct.pack_into(">iqii", expect, entries + 1 * 20, ha, 100, 0, 0)
    struct.pack_into(">iqii", expect, entries + 2 * 20, hb, 300, 2, prev_b)
    struct.pack_into(">iqii", expect, entries + 3 * 20, ha, 500, 7, 2 if slot_a == slot_b else 1)
    struct.pack_into(">i", expect, 40 + slot_b * 4, 2)
    struct.pack_into(">i", expect, 40 + slot_a * 4, 3)
    assert (tmp_path / "idx").read_bytes() == bytes(expect)
    g = IndexFile(tmp_path / "idx", slots, max_index)
    assert g.select_phy_offsets("T#a", 10, 0, 2**62) == [500, 100]
    assert g.select_phy_offsets("T#a", 10, t0 + 5000, 2**62) == [500]
    assert g.select_phy_offsets("T#b", 10, 0, 2**62) == [300]
    g.close()


def test_sync_releases_the_gil_by_using_fdatasync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full index file is synced from a worker thread; ``mmap.flush`` would hold the GIL (and so
    stop the broker's loop) for the whole ``msync`` of hundreds of MB, ``os.fdatasync`` does not."""
    f = IndexFile(tmp_path / "idx", 64, 128, create=True)
    assert f.put_key("k", 1, 1000)
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd))[1])
    f.sync()
    assert synced and os.fstat(synced[0]).st_ino == (tmp_path / "idx").stat().st_ino
    f.close()


def test_full_file_refuses(tmp_path: Path) -> None:
    f = IndexFile(tmp_path / "idx", 2, 3, create=True)
    assert f.put_key("a", 1, 1000) and f.put_key("b", 2, 1000)
    assert f.is_full and not f.put_key("c", 3, 1000)
    f.close()


def test_apache_index_file(apache_store_dir: Path) -> None:
    (path,) = sorted((apache_store_dir / "data" / "index").iterdir())
    f = IndexFile(path, 64, 256, readonly=True)
    try:
        assert (f.begin_phy_offset, f.end_phy_offset, f.hash_slot_count, f.index_count) == (
            0,
            110701,
            54,
            139,
        )
        sent = [json.loads(x) for x in (apache_store_dir / "messages.jsonl").read_text().splitlines()]
        for m in sent:
            phy = m["offsetMsgId_commitlog_offset"]
            topic = "SCHEDULE_TOPIC_XXXX" if m["delay_level"] else m["topic"]
            assert phy in f.select_phy_offsets(f"{topic}#{m['msgId']}", 64, 0, 2**62), m["i"]
            for key in m["keys"].split(" "):
                assert phy in f.select_phy_offsets(f"{topic}#{key}", 64, 0, 2**62), (m["i"], key)
        # our writer reproduces Apache's entries (hash, offset, prev chain) for the same key sequence
        assert all(0 <= e[0] for e in f.entries()) and len(f.entries()) == 138
    finally:
        f.close()


def test_service_rolls_files_and_deletes(tmp_path: Path) -> None:
    cfg = StoreConfig(store_path_root_dir=tmp_path, max_hash_slot_num=8, max_index_num=5)
    svc = IndexService(cfg, StoreCheckpoint(tmp_path / "checkpoint"))
    from broker_core.store.dispatch import DispatchRequest

    for i in range(10):
        svc.dispatch(
            DispatchRequest("T", 0, i * 100, 100, 0, 1000 + i, i, 0, 0, keys=f"k{i} all", uniq_key=f"U{i}")
        )
    assert len(svc.files) >= 5
    assert svc.query_offsets("T", "all", 64, 0, 2**62) == [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    assert svc.query_offsets("T", "U3", 64, 0, 2**62) == [300]
    assert svc.query_offsets("T", "all", 3, 0, 2**62) == [900, 800, 700]
    # re-dispatching old records is a no-op
    svc.dispatch(DispatchRequest("T", 0, 500, 100, 0, 1005, 5, 0, 0, keys="k5"))
    assert svc.query_offsets("T", "k5", 64, 0, 2**62) == [500]
    n = len(svc.files)
    assert svc.delete_expired(600) >= 1 and len(svc.files) < n
    assert 900 in svc.query_offsets("T", "all", 64, 0, 2**62)
    assert 0 not in svc.query_offsets("T", "all", 64, 0, 2**62)
    svc.close()


def _msg(i: int) -> BrokerMessage:
    props = {"KEYS": f"key-{i} grp-{i % 3}", "UNIQ_KEY": f"UNIQ{i:04d}", "TAGS": "t"}
    return BrokerMessage(topic="Q", queue_id=i % 2, body=b"x" * 200, properties_str=encode_properties(props))


@async_test
async def test_store_query_and_rebuild_after_truncation(small_config: StoreConfig) -> None:
    cfg = dataclasses.replace(small_config, max_hash_slot_num=16, max_index_num=64)
    store = MessageStore(cfg)
    await store.start()
    offsets = []
    for i in range(60):
        r = await store.put_message(_msg(i))
        assert r.append_result is not None
        offsets.append(r.append_result.wrote_offset)
    await store.wait_dispatched()
    res = store.query_message("Q", "grp-1", 64, 0, 2**62)
    got = decode_records(b"".join(res.records))
    assert sorted(m.keys for m in got if "grp-1" in m.keys.split()) == sorted(
        f"key-{i} grp-1" for i in range(60) if i % 3 == 1
    )
    (one,) = [m for m in decode_records(b"".join(store.query_message("Q", "UNIQ0007", 32, 0, 2**62).records))
              if m.properties.get("UNIQ_KEY") == "UNIQ0007"]  # fmt: skip
    assert one.commit_log_offset == offsets[7]
    assert res.index_last_update_phy_offset == offsets[-1]
    await store.shutdown()
    # Crash-like restart after the last 5 records were torn off: the index must not serve them.
    cut = offsets[55]
    seg = (
        cfg.commit_log_dir
        / f"{cut // cfg.mapped_file_size_commit_log * cfg.mapped_file_size_commit_log:020d}"
    )
    data = bytearray(seg.read_bytes())
    pos = cut % cfg.mapped_file_size_commit_log
    data[pos + 4 : pos + 8] = b"\x00\x00\x00\x00"  # destroy the magic code of record 55
    seg.write_bytes(bytes(data))
    cfg.abort_path.write_bytes(b"")
    store = MessageStore(cfg)
    await store.start()
    try:
        assert store.max_phy_offset == cut
        for i in (54, 55, 59):
            recs = decode_records(b"".join(store.query_message("Q", f"key-{i}", 32, 0, 2**62).records))
            assert [m.keys for m in recs if m.keys.split()[0] == f"key-{i}"] == (
                [f"key-{i} grp-{i % 3}"] if i < 55 else []
            )
        r = await store.put_message(_msg(99))
        assert r.ok
        await store.wait_dispatched()
        recs = decode_records(b"".join(store.query_message("Q", "key-99", 32, 0, 2**62).records))
        assert [m.keys for m in recs] == ["key-99 grp-0"]
    finally:
        await store.shutdown()


@async_test
async def test_query_apache_store_through_message_store(
    apache_store_copy: Path, apache_store_dir: Path
) -> None:
    cfg = StoreConfig(
        store_path_root_dir=apache_store_copy, mapped_file_size_commit_log=65536,
        mapped_file_size_consume_queue=6000, max_hash_slot_num=64, max_index_num=256,
    )  # fmt: skip
    store = MessageStore(cfg)
    await store.start()
    try:
        assert len(store.index.files) == 1 and store.index.files[0].entry_count == 138  # nothing re-indexed
        sent = [json.loads(x) for x in (apache_store_dir / "messages.jsonl").read_text().splitlines()]
        for m in sent:
            if m["delay_level"]:
                continue
            recs = decode_records(b"".join(store.query_message(m["topic"], m["msgId"], 32, 0, 2**62).records))
            assert m["offsetMsgId_commitlog_offset"] in [r.commit_log_offset for r in recs]
            key = m["keys"].split(" ")[0]
            recs = decode_records(b"".join(store.query_message(m["topic"], key, 32, 0, 2**62).records))
            assert key in [k for r in recs for k in (r.keys or "").split()]
        # new messages go into Apache's index file, which stays readable by Apache's layout
        r = await store.put_message(_msg(1))
        assert r.ok
        await store.wait_dispatched()
        assert store.index.files[0].entry_count == 141  # UNIQ_KEY + 2 keys
        assert len(store.query_message("Q", "grp-1", 32, 0, 2**62).records) == 1
    finally:
        await store.shutdown()
