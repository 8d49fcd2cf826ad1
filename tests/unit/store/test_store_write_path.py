"""Write path: appends, roll with BLANK markers, batches, limits, dispatch into consume queues."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import struct
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from broker_core.config.store import StoreConfig
from broker_core.message import (
    BLANK_MAGIC_CODE,
    BrokerMessage,
    MessageConst,
    decode_offset_msg_id,
    decode_record,
    decode_records,
    encode_properties,
    tags_hash_code,
)
from broker_core.store import GetMessageStatus, MessageStore, PutStatus
from broker_core.store.consume_queue import UNIT


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def msg(
    topic: str = "T",
    queue_id: int = 0,
    body: bytes = b"x" * 1000,
    props: Mapping[str, str] | None = None,
    **kw: str,
) -> BrokerMessage:
    return BrokerMessage(
        topic=topic, queue_id=queue_id, body=body, properties_str=encode_properties({**(props or {}), **kw}),
        born_timestamp=1, born_host=("10.0.0.1", 4000), store_host=("127.0.0.1", 10911),
    )  # fmt: skip


@async_test
async def test_roll_writes_blank_marker_exactly_where_record_does_not_fit(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    try:
        offsets = []
        for i in range(200):
            result = await store.put_message(msg(body=bytes([i % 256]) * (700 + i)))
            assert result.status is PutStatus.PUT_OK and result.append_result is not None
            offsets.append((result.append_result.wrote_offset, result.append_result.wrote_bytes))
            assert result.append_result.logics_offset == i
        files = store.commit_log.queue.files
        assert len(files) >= 3
        size = small_config.mapped_file_size_commit_log
        for mf in files[:-1]:
            in_file = [(o, n) for o, n in offsets if mf.file_from_offset <= o < mf.file_from_offset + size]
            last_end = in_file[-1][0] + in_file[-1][1] - mf.file_from_offset
            remaining = size - last_end
            # the next record (first of the next file) did not fit with 8 spare bytes
            next_size = next(n for o, n in offsets if o >= mf.file_from_offset + size)
            assert next_size + 8 > remaining
            assert struct.unpack_from(">ii", mf.mm, last_end) == (remaining, BLANK_MAGIC_CODE)
            assert mf.wrote_position == size
        # records never straddle files, and the ids decode to the offsets
        for o, n in offsets:
            assert o // size == (o + n - 1) // size
        await store.wait_dispatched()
        assert store.get_max_offset_in_queue("T", 0) == 200
        pulled = store.get_message("g", "T", 0, 0, 200)
        # all 32 in memory (limit 32 per pull) and across the file boundary
        assert pulled.status is GetMessageStatus.FOUND and pulled.message_count == 32
        got = store.get_message("g", "T", 0, 190, 200)
        assert [m.body[:1] for m in decode_records(b"".join(got.message_buffers))] == [
            bytes([i]) for i in range(190, 200)
        ]
    finally:
        await store.shutdown()


@async_test
async def test_put_result_ids_and_queue_offsets(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    try:
        r0 = await store.put_message(msg("A", 1, TAGS="t1", KEYS="k1 k2"))
        r1 = await store.put_message(msg("A", 2))
        r2 = await store.put_message(msg("A", 1))
        assert [r.append_result.logics_offset for r in (r0, r1, r2) if r.append_result] == [0, 0, 1]
        assert r0.append_result is not None
        host, offset = decode_offset_msg_id(r0.append_result.msg_id)
        assert host == ("127.0.0.1", 10911) and offset == r0.append_result.wrote_offset == 0
        stored = store.look_message_by_offset(0)
        assert stored is not None
        assert (stored.topic, stored.queue_id, stored.tags, stored.keys) == ("A", 1, "t1", "k1 k2")
        assert stored.store_timestamp == r0.append_result.store_timestamp
        assert stored.born_host == ("10.0.0.1", 4000)
        await store.wait_dispatched()
        cq = store.queues.find("A", 1)
        assert cq is not None
        assert cq.get_units(0, 10) == [
            (0, r0.append_result.wrote_bytes, tags_hash_code("t1")),
            (r2.append_result.wrote_offset, r2.append_result.wrote_bytes, 0),  # type: ignore[union-attr]
        ]
    finally:
        await store.shutdown()


@async_test
async def test_batch_is_contiguous_with_consecutive_offsets(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    try:
        await store.put_message(msg("B", 0))
        result = await store.put_messages(
            [msg("B", 0, body=bytes([i]) * 6400, UNIQ_KEY=f"U{i}") for i in range(10)]
        )
        ar = result.append_result
        assert result.status is PutStatus.PUT_OK and ar is not None
        assert (ar.logics_offset, ar.msg_num) == (1, 10)
        ids = ar.msg_id.split(",")
        assert len(ids) == 10
        offsets = [decode_offset_msg_id(i)[1] for i in ids]
        # the 50 KB batch did not fit after the first record: all of it went to the next file
        assert offsets[0] == 65536
        assert (
            sum(b - a for a, b in zip(offsets, offsets[1:], strict=False)) + (offsets[1] - offsets[0])
            == ar.wrote_bytes
        )
        await store.wait_dispatched()
        got = store.get_message("g", "B", 0, 1, 32)
        msgs = decode_records(b"".join(got.message_buffers))
        assert [m.queue_offset for m in msgs] == list(range(1, 11))
        assert [m.msg_id for m in msgs] == [f"U{i}" for i in range(10)]
        assert [m.commit_log_offset for m in msgs] == offsets
        assert (
            sum(m.store_size for m in msgs)
            == ar.wrote_bytes
            == offsets[-1] + msgs[-1].store_size - offsets[0]
        )
        bad = await store.put_messages([msg("B", 0), msg("B", 1)])
        assert bad.status is PutStatus.MESSAGE_ILLEGAL
    finally:
        await store.shutdown()


@async_test
async def test_limits(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    try:
        assert (await store.put_message(msg("T" * 128))).status is PutStatus.MESSAGE_ILLEGAL
        assert (await store.put_message(msg("T" * 127))).status is PutStatus.PUT_OK
        huge = msg(body=b"x" * 100, P="v" * 32768)
        assert (await store.put_message(huge)).status is PutStatus.PROPERTIES_SIZE_EXCEEDED
        # larger than a whole (64 KiB) segment can hold
        assert (await store.put_message(msg(body=b"x" * 70000))).status is PutStatus.MESSAGE_ILLEGAL
    finally:
        await store.shutdown()
    small = dataclasses.replace(small_config, max_message_size=10)
    store = MessageStore(small)
    await store.start()
    try:
        assert (await store.put_message(msg(body=b"x" * 11))).status is PutStatus.MESSAGE_ILLEGAL
        assert (await store.put_message(msg(body=b"x" * 10))).status is PutStatus.PUT_OK
    finally:
        await store.shutdown()
    assert (await store.put_message(msg())).status is PutStatus.SERVICE_NOT_AVAILABLE


@async_test
async def test_prepared_records_are_stored_but_not_dispatched(small_config: StoreConfig) -> None:
    arrivals: list[tuple[str, int, int, int]] = []

    def on_arrival(topic: str, qid: int, offset: int, tags: int, ts: int, props: str) -> None:
        arrivals.append((topic, qid, offset, tags))

    store = MessageStore(small_config, arrival_listener=on_arrival)
    await store.start()
    try:
        half = msg("H", 0)
        half.sys_flag = 0x4
        r = await store.put_message(half)
        assert r.append_result is not None and r.append_result.logics_offset == 0
        await store.put_message(msg("H", 0, TAGS="x"))
        await store.put_message(msg("H", 0))
        await store.wait_dispatched()
        assert store.get_max_offset_in_queue("H", 0) == 2
        assert arrivals == [("H", 0, 1, tags_hash_code("x")), ("H", 0, 2, 0)]
        raw = store.select_one_message_by_offset(0)
        assert raw is not None and decode_record(raw).sys_flag == 0x4
    finally:
        await store.shutdown()


@async_test
async def test_schedule_topic_tags_code_is_delivery_time(small_config: StoreConfig) -> None:
    store = MessageStore(small_config)
    await store.start()
    try:
        props = {MessageConst.DELAY: "3", MessageConst.TAGS: "t", MessageConst.REAL_TOPIC: "T"}
        r = await store.put_message(msg(MessageConst.SCHEDULE_TOPIC, 2, props=props))
        await store.wait_dispatched()
        cq = store.queues.find(MessageConst.SCHEDULE_TOPIC, 2)
        assert cq is not None and r.append_result is not None
        assert cq.get_units(0, 1) == [
            (0, r.append_result.wrote_bytes, r.append_result.store_timestamp + 10_000)
        ]
    finally:
        await store.shutdown()


def test_unit_layout() -> None:
    assert UNIT.size == 20
    assert UNIT.pack(1, 2, -3) == struct.pack(">q", 1) + struct.pack(">i", 2) + struct.pack(">q", -3)
