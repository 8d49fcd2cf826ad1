"""Reading a store written by Apache RocketMQ 4.9.8 (golden files), raw and through MessageStore."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import struct
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from broker_core.config.store import StoreConfig
from broker_core.message import BLANK_MAGIC_CODE, BrokerMessage, decode_record, decode_records, tags_hash_code
from broker_core.store import GetMessageStatus, MessageStore
from broker_core.store.checkpoint import StoreCheckpoint
from broker_core.store.consume_queue import UNIT


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def _sent(store_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (store_dir / "messages.jsonl").read_text().splitlines()]


def _commit_log(store_dir: Path) -> bytes:
    cl = store_dir / "data" / "commitlog"
    return (cl / "00000000000000000000").read_bytes() + (cl / "00000000000000065536").read_bytes()


def _units(path: Path) -> list[tuple[int, int, int]]:
    data = path.read_bytes()
    out = []
    for unit in UNIT.iter_unpack(data):
        if unit == (0, 0, 0):
            break
        out.append(unit)
    return out


def test_blank_record_and_tail(apache_store_dir: Path) -> None:
    data = _commit_log(apache_store_dir)
    assert struct.unpack_from(">ii", data, 65462) == (74, BLANK_MAGIC_CODE)
    assert data[65536 + 110701 - 65536 + 1144 :].strip(b"\x00") == b""
    # 61 records, back to back, each bodyCRC = crc32 & 0x7fffffff (decode_record checks framing)
    pos, count = 0, 0
    while pos < len(data):
        if struct.unpack_from(">i", data, pos + 4)[0] == BLANK_MAGIC_CODE:
            pos = 65536
            continue
        if struct.unpack_from(">i", data, pos)[0] == 0:
            break
        msg = decode_record(data, pos)
        pos += msg.store_size
        count += 1
    assert count == 61
    assert pos == 111845


def test_consume_queue_units_match_messages(apache_store_dir: Path) -> None:
    cq_root = apache_store_dir / "data" / "consumequeue"
    data = _commit_log(apache_store_dir)
    expected: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for m in _sent(apache_store_dir):
        if m["delay_level"]:
            continue
        off = m["offsetMsgId_commitlog_offset"]
        size = struct.unpack_from(">i", data, off)[0]
        expected.setdefault((m["topic"], m["queueId"]), []).append((off, size, tags_hash_code(m.get("tags"))))
    # the re-delivered delayed message (FxStoreTopicA/3 offset 8)
    redelivered = decode_record(data, 110701)
    expected[("FxStoreTopicA", 3)].append((110701, redelivered.store_size, tags_hash_code(redelivered.tags)))
    for (topic, qid), units in expected.items():
        assert _units(cq_root / topic / str(qid) / "00000000000000000000") == sorted(units)
    assert {k: len(v) for k, v in expected.items()} == {
        ("FxStoreTopicA", 0): 9, ("FxStoreTopicA", 1): 9, ("FxStoreTopicA", 2): 9, ("FxStoreTopicA", 3): 9,
        ("FxStoreTopicB", 0): 12, ("FxStoreTopicB", 1): 12,
    }  # fmt: skip
    assert _units(cq_root / "SCHEDULE_TOPIC_XXXX" / "0" / "00000000000000000000") == [
        (27847, 1150, 1795712019575)
    ]


def test_checkpoint_values(apache_store_dir: Path) -> None:
    cp = StoreCheckpoint(apache_store_dir / "data" / "checkpoint")
    cp.load()
    assert (cp.physic_msg_timestamp, cp.logics_msg_timestamp, cp.index_msg_timestamp) == (
        1795712018937, 1795712019605, 0,
    )  # fmt: skip
    assert cp.encode() == (apache_store_dir / "data" / "checkpoint").read_bytes()


def _apache_config(root: Path) -> StoreConfig:
    return StoreConfig(
        store_path_root_dir=root, mapped_file_size_commit_log=65536, mapped_file_size_consume_queue=6000
    )


@async_test
async def test_message_store_opens_apache_store(apache_store_dir: Path, apache_store_copy: Path) -> None:
    store = MessageStore(_apache_config(apache_store_copy))
    await store.start()
    try:
        assert store.recovery is not None and not store.recovery.abnormal
        assert store.max_phy_offset == 111845
        assert store.min_phy_offset == 0
        for qid in range(4):
            assert store.get_max_offset_in_queue("FxStoreTopicA", qid) == 9
            assert store.get_min_offset_in_queue("FxStoreTopicA", qid) == 0
        assert store.get_max_offset_in_queue("FxStoreTopicB", 0) == 12
        assert store.get_max_offset_in_queue("FxStoreTopicB", 1) == 12
        assert store.get_max_offset_in_queue("SCHEDULE_TOPIC_XXXX", 0) == 1
        assert store.dispatch_behind_bytes() == 0
        sent = {
            (m["topic"], m["queueId"], m["queueOffset"]): m
            for m in _sent(apache_store_dir)
            if not m["delay_level"]
        }
        counts = {("FxStoreTopicA", q): 9 for q in range(4)} | {
            ("FxStoreTopicB", 0): 12,
            ("FxStoreTopicB", 1): 12,
        }
        for (topic, qid), n in counts.items():
            result = store.get_message("g", topic, qid, 0, 32)
            assert result.status is GetMessageStatus.FOUND
            assert result.message_count == n
            assert result.next_begin_offset == n
            msgs = decode_records(b"".join(result.message_buffers), decompress=True)
            for msg in msgs:
                if (topic, qid, msg.queue_offset) not in sent:
                    assert msg.commit_log_offset == 110701  # the re-delivered delayed message
                    continue
                m = sent[(topic, qid, msg.queue_offset)]
                assert msg.offset_msg_id == m["offsetMsgId"]
                assert msg.msg_id == m["msgId"]
                assert hashlib.sha256(msg.body).hexdigest() == m["body_sha256"]
                assert msg.tags == m.get("tags")
        # the pull consumer committed offsets 3/5/3/5 and would continue from there
        result = store.get_message("g", "FxStoreTopicA", 1, 5, 32)
        assert result.status is GetMessageStatus.FOUND and result.message_count == 4
        looked = store.look_message_by_offset(110701)
        assert looked is not None and looked.queue_offset == 8
        # a store written by Apache accepts appends after its tail, continuing its queue offsets
        put = await store.put_message(BrokerMessage(topic="FxStoreTopicA", queue_id=0, body=b"after"))
        assert put.append_result is not None
        assert (put.append_result.wrote_offset, put.append_result.logics_offset) == (111845, 9)
        await store.wait_dispatched()
        assert store.get_max_offset_in_queue("FxStoreTopicA", 0) == 10
    finally:
        await store.shutdown()
