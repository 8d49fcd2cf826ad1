"""Consume queue units: mid-stream start, gaps, duplicates, recovery and truncation."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from broker_core.config.store import StoreConfig
from broker_core.message import BrokerMessage
from broker_core.store import MessageStore
from broker_core.store.consume_queue import FILLER_SIZE, UNIT, ConsumeQueue


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def test_queue_starting_mid_stream_is_prefilled(tmp_path: Path) -> None:
    cq = ConsumeQueue("T", 0, tmp_path, 10 * 20)
    cq.put_position(1000, 100, 7, 13)  # offset 13 lives in the second file (units 10..19)
    assert cq.max_offset_in_queue == 14
    assert cq.min_offset_in_queue == 13
    assert cq.get_unit(13) == (1000, 100, 7)
    assert [f.path.name for f in cq.queue.files] == ["00000000000000000200"]
    assert UNIT.unpack_from(cq.queue.files[0].mm, 0) == (0, FILLER_SIZE, 0)  # slot 10
    assert cq.get_unit(10) is None  # below the min offset


def test_gaps_are_filled_and_duplicates_skipped(tmp_path: Path) -> None:
    cq = ConsumeQueue("T", 0, tmp_path, 10 * 20)
    cq.put_position(0, 100, 1, 0)
    cq.put_position(100, 100, 2, 1)
    cq.put_position(100, 100, 2, 1)  # re-dispatch of a known record: skipped
    cq.put_position(500, 100, 3, 12)  # gap 2..11 across a file boundary
    assert cq.max_offset_in_queue == 13
    assert cq.get_unit(12) == (500, 100, 3)
    assert cq.get_unit(5) == (0, FILLER_SIZE, 0)
    assert len(cq.queue.files) == 2
    units = cq.get_units(0, 100)
    assert units is not None and len(units) == 10  # to the end of the first file only


def test_recover_and_truncate(tmp_path: Path) -> None:
    cq = ConsumeQueue("T", 0, tmp_path, 10 * 20)
    for i in range(25):
        cq.put_position(i * 100, 100, 0, i)
    cq.close()
    reopened = ConsumeQueue("T", 0, tmp_path, 10 * 20)
    reopened.load()
    reopened.recover()
    assert reopened.max_offset_in_queue == 25
    assert reopened.max_physic_offset == 2500
    reopened.truncate_dirty_logic_files(1950)  # records at 2000.. are gone from the commit log
    assert reopened.max_offset_in_queue == 20
    assert reopened.max_physic_offset == 2000
    assert len(reopened.queue.files) == 2
    reopened.truncate_dirty_logic_files(500)
    assert reopened.max_offset_in_queue == 5
    assert len(reopened.queue.files) == 1
    reopened.correct_min_offset(300)
    assert reopened.min_offset_in_queue == 3


@async_test
async def test_ipv6_hosts_end_to_end(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    try:
        m = BrokerMessage(
            topic="V6", queue_id=0, body=b"v6", born_host=("::1", 1), store_host=("fd00::2", 10911)
        )
        r = await store.put_message(m)
        assert r.append_result is not None and len(r.append_result.msg_id) == 56
        await store.wait_dispatched()
        assert store.get_max_offset_in_queue("V6", 0) == 1
        got = store.look_message_by_offset(0)
        assert got is not None
        assert (got.born_host, got.store_host, got.sys_flag) == (("::1", 1), ("fd00::2", 10911), 0x30)
        assert got.offset_msg_id == r.append_result.msg_id
        assert store.get_earliest_message_time("V6", 0) == r.append_result.store_timestamp
    finally:
        await store.shutdown()


def test_recover_finds_the_hole_before_a_long_tail_of_never_flushed_files(tmp_path: Path) -> None:
    """After a power cut, files created but never flushed read as zeros: with three or more of them
    at the tail, a scan from the third-to-last file alone would take the first of them as full."""
    cq = ConsumeQueue("T", 0, tmp_path, 10 * 20)
    for i in range(15):  # file 0 full, file 1 half
        cq.put_position(i * 100, 100, 0, i)
    directory = cq.queue.files[0].path.parent
    cq.close()
    for start in (400, 600, 800):  # three more files, all zeros (created, data never made durable)
        (directory / f"{start:020d}").write_bytes(bytes(10 * 20))
    reopened = ConsumeQueue("T", 0, tmp_path, 10 * 20)
    reopened.load()
    reopened.recover()
    assert reopened.max_offset_in_queue == 15
    assert reopened.max_physic_offset == 1500
    reopened.put_position(1500, 100, 0, 15)  # the re-dispatched record lands in its slot
    assert reopened.get_unit(15) == (1500, 100, 0)
