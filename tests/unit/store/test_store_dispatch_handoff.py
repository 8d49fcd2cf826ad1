"""Dispatch hand-off: the requests the appender queues equal what scanning the record gives.

The commit log hands dispatch one request per appended record instead of dispatch scanning it back
out of the mapping (``broker_core/store/dispatch.py``). These tests hold the two sources to the same
answer, and check that a queued request never outlives the bytes it describes (truncation, replicated
bytes, a queue that overflowed) — dispatch then scans, as after a restart.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Mapping

import pytest

from broker_core.config.store import StoreConfig
from broker_core.message import BrokerMessage, MessageConst, encode_properties
from broker_core.message.properties import decode_properties, property_value
from broker_core.store import DispatchRequest, MessageStore, PutStatus
from broker_core.store.dispatch import parse_record

_SAMPLES = [
    "",
    "KEYS\x01a b",
    "KEYS\x01a b\x02",
    "TAGS\x01t\x02KEYS\x01k\x02UNIQ_KEY\x01U1",
    "KEYS\x01\x02TAGS\x01x",  # empty value: absent
    "KEYS\x01one\x02KEYS\x01two",  # twice: the last wins
    "KEYS\x01one\x02KEYS\x01",  # twice, the last empty: the first stays
    "KEYS\x01v\x01",  # trailing empty part dropped by Java's split
    "KEYS\x01v\x01w",  # three parts: ignored
    "XKEYS\x01v\x02AKEYS\x01w",  # other names ending in the name
    "\x02\x02KEYS\x01v\x02\x02",
    "A\x01KEYS\x01v",  # the name inside another entry
    "TAGS\x01\u00e9t\u00e9\x02KEYS\x01\U0001f600",
]


@pytest.mark.parametrize("text", _SAMPLES)
@pytest.mark.parametrize("name", ["KEYS", "TAGS", "UNIQ_KEY", "A"])
def test_property_value_is_decode_properties_get(text: str, name: str) -> None:
    assert property_value(text, name) == decode_properties(text).get(name)


def test_property_value_matches_decoder_on_random_strings() -> None:
    rng = random.Random(14)
    alphabet = ["K", "E", "Y", "S", "KEYS", "\x01", "\x02", "x", ""]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        assert property_value(text, "KEYS") == decode_properties(text).get("KEYS"), repr(text)


def _msg(
    i: int, props: Mapping[str, str], *, v6: bool = False, sys_flag: int = 0, qid: int = 0
) -> BrokerMessage:
    return BrokerMessage(
        topic=f"T{i % 3}", queue_id=qid, body=bytes([i % 251]) * (50 + i % 400),
        properties_str=encode_properties(props), born_timestamp=1000 + i, sys_flag=sys_flag,
        born_host=("::1" if v6 else "10.0.0.1", 4000), store_host=("127.0.0.1", 10911),
    )  # fmt: skip


def _scanned(store: MessageStore, req: DispatchRequest) -> DispatchRequest | int:
    mf = store.commit_log.queue.locate(req.commit_log_offset)
    assert mf is not None
    return parse_record(
        mf.mm, req.commit_log_offset - mf.file_from_offset, mf.wrote_position, mf.file_from_offset,
        check_crc=True, delay_levels=store.reput.delay_levels,
    )  # fmt: skip


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[DispatchRequest] = []

    def dispatch(self, request: DispatchRequest) -> None:
        self.seen.append(request)


def test_handed_off_requests_equal_scanned_ones(small_config: StoreConfig) -> None:
    async def run() -> None:
        store = MessageStore(small_config)
        rec = _Recorder()
        store.add_dispatcher(rec)
        await store.start()
        try:
            for i in range(300):
                props = {MessageConst.UNIQ_KEY: f"U{i:04d}", MessageConst.TAGS: f"tag{i % 5}"}
                if i % 4 == 0:
                    props[MessageConst.KEYS] = f"k{i} shared"
                if i % 7 == 0:
                    props = {"odd": "v"}
                result = await store.put_message(
                    _msg(i, props, v6=i % 11 == 0, sys_flag=4 if i % 13 == 0 else 0)
                )
                assert result.status is PutStatus.PUT_OK
            batch = [_msg(i, {MessageConst.KEYS: f"b{i}"}, qid=1) for i in range(20)]
            batch = [BrokerMessage(**{**_fields(m), "topic": "TB"}) for m in batch]
            assert (await store.put_messages(batch)).status is PutStatus.PUT_OK
            await store.wait_dispatched()
            assert len(rec.seen) == 320 and not store.commit_log.handoff
            assert len(store.commit_log.queue.files) >= 2  # the run crossed a segment end (BLANK marker)
            for req in rec.seen:
                assert _scanned(store, req) == req
        finally:
            await store.shutdown()

    asyncio.run(run())


def _fields(m: BrokerMessage) -> dict[str, object]:
    return {name: getattr(m, name) for name in BrokerMessage.__slots__}


def test_queued_requests_never_outlive_the_bytes_they_describe(small_config: StoreConfig) -> None:
    """Records appended, cut off before dispatch saw them, and replaced by others at the same offsets:
    dispatch must index the replacements (a stale queued request would index the cut ones)."""

    async def run() -> None:
        store = MessageStore(small_config)
        rec = _Recorder()
        store.add_dispatcher(rec)
        await store.start()
        try:
            await store.put_message(_msg(0, {MessageConst.KEYS: "kept"}))
            await store.wait_dispatched()
            cut_at = store.commit_log.max_offset
            for i in range(5):  # no await in between: dispatch cannot run before the cut
                store.put_message_now(_msg(i, {MessageConst.KEYS: f"cut{i}"}))
            assert store.commit_log.handoff
            store.commit_log.queue.truncate_dirty_files(cut_at)
            store.commit_log.queue_offsets = {("T0", 0): 1}
            for i in range(3):
                store.put_message_now(_msg(3 * i, {MessageConst.KEYS: f"new{i}"}, qid=0))
            await store.wait_dispatched()
            assert [r.keys for r in rec.seen] == ["kept", "new0", "new1", "new2"]
            for req in rec.seen:
                assert _scanned(store, req) == req
        finally:
            await store.shutdown()

    asyncio.run(run())


def test_overflowing_queue_falls_back_to_scanning(small_config: StoreConfig) -> None:
    async def run() -> None:
        store = MessageStore(small_config)
        rec = _Recorder()
        store.add_dispatcher(rec)
        await store.start()
        try:
            store.commit_log.handoff = deque(maxlen=4)
            for i in range(30):  # no await: dispatch runs after all of them
                store.put_message_now(_msg(i, {MessageConst.UNIQ_KEY: f"U{i}", MessageConst.TAGS: "t"}))
            assert len(store.commit_log.handoff) == 4
            await store.wait_dispatched()
            assert [r.uniq_key for r in rec.seen] == [f"U{i}" for i in range(30)]
            for req in rec.seen:
                assert _scanned(store, req) == req
        finally:
            await store.shutdown()

    asyncio.run(run())


def test_replicated_bytes_drop_the_queue(small_config: StoreConfig) -> None:
    async def run() -> None:
        store = MessageStore(small_config)
        await store.start()
        try:
            store.put_message_now(_msg(1, {MessageConst.KEYS: "k"}))
            assert store.commit_log.handoff
            assert not store.commit_log.append_raw(0, b"")  # not the end: refused, queue kept
            assert store.commit_log.handoff
            assert store.commit_log.append_raw(store.commit_log.max_offset, b"")
            assert not store.commit_log.handoff
        finally:
            await store.shutdown()

    asyncio.run(run())
