"""Restart and recovery: clean restart, torn tails, consume queues ahead of the log, abnormal exit."""

from __future__ import annotations

import asyncio
import functools
import shutil
import struct
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from broker_core.config.store import StoreConfig
from broker_core.errors import StoreError, StoreLockedError
from broker_core.message import BrokerMessage, decode_records, encode_properties
from broker_core.store import GetMessageStatus, MessageStore


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def msg(queue_id: int, i: int, size: int = 900) -> BrokerMessage:
    return BrokerMessage(
        topic="R", queue_id=queue_id, body=f"{i:06d}".encode() * (size // 6),
        properties_str=encode_properties({"TAGS": f"t{i % 3}", "UNIQ_KEY": f"ID{i}"}),
    )  # fmt: skip


async def fill(config: StoreConfig, n: int) -> list[int]:
    """Put ``n`` messages over 3 queues, shut down cleanly; returns record end offsets."""
    store = MessageStore(config)
    await store.start()
    ends = []
    for i in range(n):
        r = await store.put_message(msg(i % 3, i))
        assert r.append_result is not None
        ends.append(r.append_result.wrote_offset + r.append_result.wrote_bytes)
    await store.shutdown()
    return ends


def ids(store: MessageStore, qid: int, start: int = 0) -> list[str]:
    result = store.get_message("g", "R", qid, start, 1000)
    return [m.msg_id for m in decode_records(b"".join(result.message_buffers))]


@async_test
async def test_clean_restart_keeps_everything(small_config: StoreConfig) -> None:
    ends = await fill(small_config, 200)
    assert not small_config.abort_path.exists()
    store = MessageStore(small_config)
    await store.start()
    try:
        assert store.recovery is not None and not store.recovery.abnormal
        assert store.max_phy_offset == ends[-1]
        for qid in range(3):
            n = len(range(qid, 200, 3))
            assert store.get_max_offset_in_queue("R", qid) == n
            got: list[str] = []
            while len(got) < n:
                got += ids(store, qid, len(got))
            assert got == [f"ID{i}" for i in range(qid, 200, 3)]
        r = await store.put_message(msg(1, 999))
        assert r.append_result is not None
        assert r.append_result.wrote_offset == ends[-1]
        assert r.append_result.logics_offset == len(range(1, 200, 3))
        assert small_config.abort_path.exists()
    finally:
        await store.shutdown()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x01\x02\x03\x04garbage",  # random bytes
        struct.pack(">ii", 900, -626843481) + b"\xff" * 40,  # a record header whose record was never written
    ],
)
@async_test
async def test_torn_tail_is_truncated(small_config: StoreConfig, garbage: bytes) -> None:
    ends = await fill(small_config, 30)
    last = small_config.commit_log_dir / f"{(ends[-1] // 65536) * 65536:020d}"
    with last.open("r+b") as f:
        f.seek(ends[-1] % 65536)
        f.write(garbage)
    store = MessageStore(small_config)
    await store.start()
    try:
        assert store.max_phy_offset == ends[-1]
        assert store.commit_log.read(ends[-1], len(garbage)) is None
        r = await store.put_message(msg(0, 30))
        assert r.append_result is not None and r.append_result.wrote_offset == ends[-1]
        await store.wait_dispatched()
        assert ids(store, 0)[-1] == "ID30"
    finally:
        await store.shutdown()


@async_test
async def test_crc_mismatch_truncates_and_consume_queues_follow(small_config: StoreConfig) -> None:
    ends = await fill(small_config, 30)
    # corrupt the body of the 28th record (index 27, queue 0): recovery keeps records 0..26 only
    start = ends[26]
    seg = small_config.commit_log_dir / f"{(start // 65536) * 65536:020d}"
    with seg.open("r+b") as f:
        f.seek(start % 65536 + 100)
        f.write(b"CORRUPT")
    store = MessageStore(small_config)
    await store.start()
    try:
        assert store.max_phy_offset == ends[26]
        # consume queues were ahead of the log: their units for records 27..29 are gone
        assert store.get_max_offset_in_queue("R", 0) == 9  # ids 0,3,...,24
        assert store.get_max_offset_in_queue("R", 1) == 9
        assert store.get_max_offset_in_queue("R", 2) == 9
        assert ids(store, 2)[-1] == "ID26"
        r = await store.put_message(msg(0, 100))
        assert r.append_result is not None and r.append_result.logics_offset == 9
    finally:
        await store.shutdown()


@async_test
async def test_abnormal_exit_rebuilds_consume_queues(small_config: StoreConfig) -> None:
    await fill(small_config, 120)
    # simulate a crash: the abort marker stayed and the consume queues never reached the disk
    small_config.abort_path.touch()
    shutil.rmtree(small_config.consume_queue_dir)
    store = MessageStore(small_config)
    await store.start()
    try:
        assert store.recovery is not None and store.recovery.abnormal
        for qid in range(3):
            assert store.get_max_offset_in_queue("R", qid) == 40
        assert ids(store, 1, 30) == [f"ID{i}" for i in range(91, 120, 3)]
    finally:
        await store.shutdown()
    assert not small_config.abort_path.exists()


@async_test
async def test_second_store_on_same_directory_is_refused(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    try:
        with pytest.raises(StoreLockedError):
            await MessageStore(small_config).start()
        assert store.get_message("g", "R", 0, 0, 1).status is GetMessageStatus.NO_MESSAGE_IN_QUEUE
    finally:
        await store.shutdown()


def _empty_segment_after_last(directory: Path) -> Path:
    """Create the 0-byte file a power cut leaves of a segment created just before it."""
    names = sorted(p.name for p in directory.iterdir())
    size = (directory / names[-1]).stat().st_size
    empty = directory / f"{int(names[-1]) + size:020d}"
    empty.touch()
    return empty


@async_test
async def test_empty_trailing_segments_of_a_power_cut_are_dropped(small_config: StoreConfig) -> None:
    await fill(small_config, 120)
    small_config.abort_path.touch()
    empties = [
        _empty_segment_after_last(small_config.commit_log_dir),
        _empty_segment_after_last(small_config.consume_queue_dir / "R" / "1"),
    ]
    store = MessageStore(small_config)
    await store.start()
    try:
        assert store.recovery is not None and store.recovery.abnormal
        assert not any(p.exists() and p.stat().st_size == 0 for p in empties)
        for qid in range(3):
            assert store.get_max_offset_in_queue("R", qid) == 40
        assert ids(store, 1, 30) == [f"ID{i}" for i in range(91, 120, 3)]
        await store.put_message(msg(1, 120))  # the log and the queue grow past the dropped files
        await store.reput.wait_dispatched()
        assert store.get_max_offset_in_queue("R", 1) == 41
    finally:
        await store.shutdown()


@async_test
async def test_empty_segment_before_a_full_one_still_stops_the_load(small_config: StoreConfig) -> None:
    await fill(small_config, 120)
    cq = small_config.consume_queue_dir / "R" / "1"
    first = sorted(cq.iterdir())[0]
    size = first.stat().st_size
    (cq / f"{int(first.name) + size:020d}").write_bytes(bytes(size))  # a full segment after it
    first.write_bytes(b"")  # ... and the first one empty: not a power-cut residue
    store = MessageStore(small_config)
    with pytest.raises(StoreError, match="has size 0"):
        await store.start()
    await store.shutdown()
