"""Read path status rules (storage spec §2.8), filters, limits and time-based look-ups."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from broker_core.config.store import StoreConfig
from broker_core.message import BrokerMessage, decode_records, encode_properties, tags_hash_code
from broker_core.store import GetMessageStatus, MessageStore
from broker_core.store import commit_log as commit_log_module


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def msg(i: int, queue_id: int = 0, size: int = 900) -> BrokerMessage:
    return BrokerMessage(
        topic="Q", queue_id=queue_id, body=bytes([i % 256]) * size,
        properties_str=encode_properties({"TAGS": "even" if i % 2 == 0 else "odd", "UNIQ_KEY": f"ID{i}"}),
    )  # fmt: skip


class FakeClock:
    """Stands in for the ``time`` module in commit_log: store timestamps under test control."""

    def __init__(self) -> None:
        self.ms = 1_000_000

    def time_ns(self) -> int:
        return self.ms * 1_000_000


@async_test
async def test_status_matrix(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    try:
        r = store.get_message("g", "Q", 0, 0, 32)
        assert (r.status, r.next_begin_offset) == (GetMessageStatus.NO_MESSAGE_IN_QUEUE, 0)
        for i in range(10):
            await store.put_message(msg(i))
        await store.wait_dispatched()
        r = store.get_message("g", "Q", 0, 10, 32)
        assert (r.status, r.next_begin_offset, r.min_offset, r.max_offset) == (
            GetMessageStatus.OFFSET_OVERFLOW_ONE, 10, 0, 10,
        )  # fmt: skip
        r = store.get_message("g", "Q", 0, 15, 32)
        # min offset is 0, so Apache sends the consumer back to 0
        assert (r.status, r.next_begin_offset) == (GetMessageStatus.OFFSET_OVERFLOW_BADLY, 0)
        r = store.get_message("g", "Q", 0, 3, 4)
        assert (r.status, r.next_begin_offset, r.message_count) == (GetMessageStatus.FOUND, 7, 4)
        assert r.message_queue_offsets == [3, 4, 5, 6]
        assert r.buffer_total_size == sum(len(b) for b in r.message_buffers)
        even = tags_hash_code("even")
        r = store.get_message("g", "Q", 0, 0, 32, message_filter=lambda code: code == even)
        assert r.status is GetMessageStatus.FOUND and r.next_begin_offset == 10
        assert [m.msg_id for m in decode_records(b"".join(r.message_buffers))] == [
            f"ID{i}" for i in range(0, 10, 2)
        ]
        r = store.get_message("g", "Q", 0, 0, 32, message_filter=lambda code: False)
        assert (r.status, r.next_begin_offset, r.message_count) == (
            GetMessageStatus.NO_MATCHED_MESSAGE,
            10,
            0,
        )
        r = store.get_message("g", "Q", 0, 0, 32, commit_log_filter=lambda raw: b"ID7" in raw)
        assert r.status is GetMessageStatus.FOUND and r.message_queue_offsets == [7]
        # byte limit: the first record is always accepted
        r = store.get_message("g", "Q", 0, 0, 32, max_total_bytes=10)
        assert r.message_count == 1 and r.next_begin_offset == 1
        r = store.get_message("g", "Q", 0, 0, 32, max_total_bytes=2500)
        assert r.message_count == 2 and r.next_begin_offset == 2
    finally:
        await store.shutdown()


@async_test
async def test_offset_too_small_and_message_was_removing(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    for i in range(150):
        await store.put_message(msg(i))
    await store.shutdown()
    # retention removed the oldest commit-log segment
    (small_config.commit_log_dir / f"{0:020d}").unlink()
    store = MessageStore(small_config)
    await store.start()
    try:
        assert store.min_phy_offset == 65536
        low = store.get_min_offset_in_queue("Q", 0)
        assert low > 0
        r = store.get_message("g", "Q", 0, 0, 32)
        assert (r.status, r.next_begin_offset) == (GetMessageStatus.OFFSET_TOO_SMALL, low)
        r = store.get_message("g", "Q", 0, low, 1)
        assert r.status is GetMessageStatus.FOUND
        assert store.get_earliest_message_time("Q", 0) > 0
        # a consume queue that still points into the deleted segment
        cq = store.queues.find("Q", 0)
        assert cq is not None
        cq.min_logic_offset = 0
        r = store.get_message("g", "Q", 0, 0, 32)
        # every unit of the first CQ file (50 units) points into the deleted segment
        assert (r.status, r.next_begin_offset, r.message_count) == (
            GetMessageStatus.MESSAGE_WAS_REMOVING,
            50,
            0,
        )
        r = store.get_message("g", "Q", 0, 50, 32)
        assert r.status is GetMessageStatus.FOUND and r.message_queue_offsets[0] == low
    finally:
        await store.shutdown()


@async_test
async def test_offset_found_null_when_units_are_gone(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    try:
        for i in range(60):  # 50 units per CQ file: two files
            await store.put_message(msg(i, size=100))
        await store.wait_dispatched()
        cq = store.queues.find("Q", 0)
        assert cq is not None and len(cq.queue.files) == 2
        cq.queue.files.pop(0).destroy()  # the first CQ file vanished but min offset was not corrected
        r = store.get_message("g", "Q", 0, 10, 32)
        assert (r.status, r.next_begin_offset) == (GetMessageStatus.OFFSET_FOUND_NULL, 50)
    finally:
        await store.shutdown()


@async_test
async def test_offset_by_time(small_config: StoreConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(commit_log_module, "time", clock)
    store = MessageStore(small_config)
    await store.start()
    try:
        for i in range(120):  # 120 records over several commit-log and consume-queue files
            clock.ms = 1_000_000 + i * 1000
            await store.put_message(msg(i, size=1500))
        await store.wait_dispatched()
        find = functools.partial(store.get_offset_in_queue_by_time, "Q", 0)
        assert find(1_000_000) == 0
        assert find(1_050_000) == 50
        assert find(1_050_400) == 50
        assert find(1_050_600) == 51
        assert find(1_050_500) == 50  # tie: the left neighbour, as Apache
        assert find(0) == 0
        assert find(9_999_999_999) == 119
        assert store.get_earliest_message_time("Q", 0) == 1_000_000
        assert store.get_message_store_timestamp("Q", 0, 7) == 1_007_000
        assert store.get_commit_log_offset_in_queue("Q", 0, 1) > 0
        assert store.get_offset_in_queue_by_time("nope", 0, 5) == 0
    finally:
        await store.shutdown()
