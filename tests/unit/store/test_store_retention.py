"""Retention (expired files, CQ/index cleanup, min offsets) and the offline dump/verify tool."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import io
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from broker_core.config.store import StoreConfig
from broker_core.message import BrokerMessage, decode_records, encode_properties
from broker_core.store import GetMessageStatus, MessageStore, PutStatus
from broker_core.store.dump import dump, verify
from broker_core.store.retention import disk_usage_ratio


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


ALL_HOURS = ";".join(f"{h:02d}" for h in range(24))


def _msg(i: int) -> BrokerMessage:
    props = {"KEYS": f"k{i}", "UNIQ_KEY": f"U{i}"}
    return BrokerMessage(
        topic="Ret", queue_id=0, body=f"{i:05d}".encode() * 200, properties_str=encode_properties(props)
    )


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


@async_test
async def test_expired_files_deleted_and_min_offset_corrected(small_config: StoreConfig) -> None:
    cfg = dataclasses.replace(
        small_config, file_reserved_time=1 / 3600, delete_when=ALL_HOURS, clean_resource_interval=3_600_000,
        max_hash_slot_num=16, max_index_num=40,
    )  # fmt: skip
    store = MessageStore(cfg)
    await store.start()
    try:
        offsets = []
        for i in range(200):  # ~1 KiB each -> ~4 commit-log segments of 64 KiB, 4 CQ files of 50 units
            r = await store.put_message(_msg(i))
            assert r.append_result is not None
            offsets.append(r.append_result.wrote_offset)
        await store.wait_dispatched()
        files = list(store.commit_log.queue.files)
        assert len(files) >= 3
        for mf in files[:-1]:
            _age(mf.path, 3600)
        _age(files[-1].path, 0)
        n_index = len(store.index.files)
        report = store.cleaner.run_once()
        assert report.commit_log_files == len(files) - 1
        assert [mf.path.exists() for mf in files] == [False] * (len(files) - 1) + [True]
        min_phy = store.min_phy_offset
        assert min_phy == files[-1].file_from_offset
        first_kept = next(i for i, off in enumerate(offsets) if off >= min_phy)
        assert store.get_min_offset_in_queue("Ret", 0) == first_kept
        assert (
            report.consume_queue_files >= 1 and report.index_files >= 1 and len(store.index.files) < n_index
        )
        # a consumer before the min offset is told to move; nothing newer was touched
        old = store.get_message("g", "Ret", 0, 0, 32)
        assert old.status is GetMessageStatus.OFFSET_TOO_SMALL and old.next_begin_offset == first_kept
        new = store.get_message("g", "Ret", 0, first_kept, 1000)
        got = [m.keys for m in decode_records(b"".join(new.message_buffers))]
        assert got[: 200 - first_kept] == [f"k{i}" for i in range(first_kept, 200)][: len(got)]
        assert store.query_message("Ret", "k0", 32, 0, 2**62).records == []
        assert len(store.query_message("Ret", "k199", 32, 0, 2**62).records) == 1
        # files not yet expired stay
        assert store.cleaner.run_once().commit_log_files == 0
    finally:
        await store.shutdown()


@async_test
async def test_not_expired_and_not_time_up_keeps_files(small_config: StoreConfig) -> None:
    hour = time.localtime().tm_hour
    cfg = dataclasses.replace(small_config, delete_when=f"{(hour + 2) % 24:02d}", file_reserved_time=0.0)
    store = MessageStore(cfg)
    await store.start()
    try:
        for i in range(150):
            await store.put_message(_msg(i))
        n = len(store.commit_log.queue.files)
        assert (
            store.cleaner.run_once().commit_log_files == 0 or disk_usage_ratio(cfg.store_path_root_dir) > 0.75
        )
        assert len(store.commit_log.queue.files) == n or disk_usage_ratio(cfg.store_path_root_dir) > 0.75
    finally:
        await store.shutdown()


@async_test
async def test_disk_full_refuses_writes(small_config: StoreConfig) -> None:
    cfg = dataclasses.replace(
        small_config, disk_space_warning_level_ratio=-0.5, disk_space_clean_forcibly_ratio=-0.5
    )
    store = MessageStore(cfg)
    await store.start()
    try:
        assert (await store.put_message(_msg(0))).status is PutStatus.PUT_OK
        store.cleaner.run_once()
        assert store.cleaner.disk_full
        assert (await store.put_message(_msg(1))).status is PutStatus.SERVICE_NOT_AVAILABLE
    finally:
        await store.shutdown()


@async_test
async def test_verify_reports_corrupt_byte_and_recovery_truncates(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    offsets = []
    for i in range(40):
        r = await store.put_message(_msg(i))
        assert r.append_result is not None
        offsets.append(r.append_result.wrote_offset)
    await store.shutdown()
    root = small_config.store_path_root_dir
    assert verify(root) == []
    out = io.StringIO()
    assert dump(root, out) == []
    text = out.getvalue()
    assert text.count("\nrecord ") + text.startswith("record ") == 40 and "entry 80 " in text
    seg = small_config.commit_log_dir / f"{0:020d}"
    data = bytearray(seg.read_bytes())
    body_pos = offsets[20] + 200  # inside record 20's body
    data[body_pos] ^= 0xFF
    seg.write_bytes(bytes(data))
    problems = verify(root)
    assert problems and problems[0].offset == offsets[20] and "CRC" in problems[0].what
    store = MessageStore(small_config)
    await store.start()
    try:  # Apache semantics: recovery stops at the bad record and truncates everything after it
        assert store.max_phy_offset == offsets[20]
        assert store.get_max_offset_in_queue("Ret", 0) == 20
        got = store.get_message("g", "Ret", 0, 0, 1000)
        assert [m.keys for m in decode_records(b"".join(got.message_buffers))] == [f"k{i}" for i in range(20)]
    finally:
        await store.shutdown()
    assert verify(root) == []
