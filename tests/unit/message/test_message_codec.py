"""Commit-log record and batch body codecs, checked against hand-built bytes and Apache's own files."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker_core.errors import MessageDecodeError
from broker_core.message import (
    BLANK_MAGIC_CODE,
    BrokerMessage,
    Message,
    MessageSysFlag,
    decode_batch,
    decode_record,
    decode_records,
    encode_batch,
    encode_record,
    encode_record_into,
    record_size,
)
from broker_core.message.properties import encode_properties
from tests.support.fixtures import store_dir


@pytest.fixture(scope="module")
def apache_store_dir() -> Path:
    """``apache-4.9.8/store`` (fails loudly when the shared fixtures are missing)."""
    return store_dir()


def _golden_record() -> bytes:
    """A record assembled field by field from the storage spec table (not by our encoder)."""
    body = b"hello"
    topic = b"T1"
    props = b"TAGS\x01tg\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01ABC\x02"
    total = 91 + len(body) + len(topic) + len(props)
    out = b""
    out += struct.pack(">i", total)  # 1 TOTALSIZE
    out += bytes.fromhex("DAA320A7")  # 2 MAGICCODE
    out += struct.pack(">i", zlib.crc32(body) & 0x7FFFFFFF)  # 3 BODYCRC
    out += struct.pack(">i", 3)  # 4 QUEUEID
    out += struct.pack(">i", 77)  # 5 FLAG
    out += struct.pack(">q", 42)  # 6 QUEUEOFFSET
    out += struct.pack(">q", 4096)  # 7 PHYSICALOFFSET
    out += struct.pack(">i", 2)  # 8 SYSFLAG (MULTI_TAGS)
    out += struct.pack(">q", 1_700_000_000_000)  # 9 BORNTIMESTAMP
    out += bytes([10, 1, 2, 3]) + struct.pack(">i", 5555)  # 10 BORNHOST
    out += struct.pack(">q", 1_700_000_000_123)  # 11 STORETIMESTAMP
    out += bytes([127, 0, 0, 1]) + struct.pack(">i", 10911)  # 12 STOREHOSTADDRESS
    out += struct.pack(">i", 2)  # 13 RECONSUMETIMES
    out += struct.pack(">q", 0)  # 14 PREPARED TRANSACTION OFFSET
    out += struct.pack(">i", len(body)) + body  # 15
    out += bytes([len(topic)]) + topic  # 16
    out += struct.pack(">h", len(props)) + props  # 17
    assert len(out) == total
    return out


def test_golden_record_decodes() -> None:
    msg = decode_record(_golden_record())
    assert msg.topic == "T1"
    assert (msg.queue_id, msg.flag, msg.queue_offset, msg.commit_log_offset) == (3, 77, 42, 4096)
    assert msg.sys_flag == MessageSysFlag.MULTI_TAGS
    assert msg.born_host == ("10.1.2.3", 5555)
    assert msg.store_host == ("127.0.0.1", 10911)
    assert msg.store_timestamp == 1_700_000_000_123
    assert msg.reconsume_times == 2
    assert msg.body == b"hello"
    assert msg.tags == "tg"
    assert msg.keys == "k1 k2"
    assert msg.msg_id == "ABC"
    assert msg.offset_msg_id == "7F00000100002A9F0000000000001000"


def test_encoder_reproduces_golden_record() -> None:
    bm = BrokerMessage(
        topic="T1", queue_id=3, body=b"hello", properties_str="TAGS\x01tg\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01ABC\x02",
        flag=77, sys_flag=2, born_timestamp=1_700_000_000_000, born_host=("10.1.2.3", 5555),
        store_host=("127.0.0.1", 10911), reconsume_times=2,
    )  # fmt: skip
    assert encode_record(bm, 42, 4096, 1_700_000_000_123) == _golden_record()


_hosts = st.sampled_from([("127.0.0.1", 10911), ("192.0.2.2", 1), ("fd00::2", 10911), ("::1", 65535)])
_prop_text = st.text(
    alphabet=st.characters(exclude_characters="\x01\x02", exclude_categories=["Cs"]), max_size=20
)


@given(
    topic=st.text(alphabet="abcXYZ019_-%|", min_size=1, max_size=127),
    body=st.binary(max_size=600),
    props=st.dictionaries(_prop_text, _prop_text.filter(bool), max_size=5),
    queue_id=st.integers(0, 2**31 - 1),
    flag=st.integers(-(2**31), 2**31 - 1),
    queue_offset=st.integers(0, 2**62),
    phy=st.integers(0, 2**62),
    sys_flag=st.sampled_from([0, 1, 2, 8, 0x301]),
    born=_hosts,
    store=_hosts,
    ts=st.integers(0, 2**60),
)
def test_record_round_trip(
    topic: str,
    body: bytes,
    props: dict[str, str],
    queue_id: int,
    flag: int,
    queue_offset: int,
    phy: int,
    sys_flag: int,
    born: tuple[str, int],
    store: tuple[str, int],
    ts: int,
) -> None:
    bm = BrokerMessage(
        topic=topic, queue_id=queue_id, body=body, properties_str=encode_properties(props), flag=flag,
        sys_flag=sys_flag, born_timestamp=ts + 1, born_host=born, store_host=store, reconsume_times=3,
        prepared_transaction_offset=phy // 2,
    )  # fmt: skip
    raw = encode_record(bm, queue_offset, phy, ts)
    v6 = (0x10 if ":" in born[0] else 0) | (0x20 if ":" in store[0] else 0)
    assert len(raw) == record_size(len(body), len(topic), len(bm.properties_str.encode()), v6)
    msg = decode_record(b"xx" + raw, 2)
    assert (msg.topic, msg.queue_id, msg.flag, msg.queue_offset, msg.commit_log_offset) == (
        topic, queue_id, flag, queue_offset, phy,
    )  # fmt: skip
    assert msg.sys_flag == sys_flag | v6
    assert (msg.born_host, msg.store_host, msg.store_timestamp) == (born, store, ts)
    assert msg.body == body
    assert msg.properties == props
    assert msg.store_size == len(raw)
    assert msg.body_crc == zlib.crc32(body) & 0x7FFFFFFF


def test_decompress_clears_flag() -> None:
    original = b"abc" * 2000
    bm = BrokerMessage(topic="T", queue_id=0, body=zlib.compress(original, 5), sys_flag=0x301)
    raw = encode_record(bm)
    assert decode_record(raw).body == bm.body
    msg = decode_record(raw, decompress=True)
    assert msg.body == original
    assert msg.sys_flag == 0x300


def test_decode_records_splits_on_total_size() -> None:
    raws = [
        encode_record(BrokerMessage(topic="T", queue_id=i, body=bytes([i]) * i), i, 100 * i) for i in range(4)
    ]
    msgs = decode_records(b"".join(raws))
    assert [m.queue_id for m in msgs] == [0, 1, 2, 3]
    assert [m.body for m in msgs] == [b"", b"\x01", b"\x02\x02", b"\x03\x03\x03"]


def test_decode_errors() -> None:
    raw = _golden_record()
    with pytest.raises(MessageDecodeError):
        decode_record(struct.pack(">ii", 74, BLANK_MAGIC_CODE) + bytes(66))
    with pytest.raises(MessageDecodeError):
        decode_record(raw[:-1])
    with pytest.raises(MessageDecodeError):
        decode_record(raw[:20])


@given(
    st.lists(
        st.tuples(
            st.integers(-(2**31), 2**31 - 1),
            st.binary(max_size=200),
            st.dictionaries(_prop_text, _prop_text.filter(bool), max_size=3),
        ),
        max_size=6,
    )
)
def test_batch_round_trip(entries: list[tuple[int, bytes, dict[str, str]]]) -> None:
    body = encode_batch([Message("T", b, f, p) for f, b, p in entries])
    decoded = decode_batch(body)
    assert [(f, b) for f, b, _ in decoded] == [(f, b) for f, b, _ in entries]
    assert [p for _, _, p in decoded] == [encode_properties(p) for _, _, p in entries]


def test_batch_layout() -> None:
    body = encode_batch([Message("T", b"xy", 5, {"A": "b"})])
    props = b"A\x01b\x02"
    assert (
        body
        == struct.pack(">iiiii", 20 + 2 + 2 + len(props), 0, 0, 5, 2) + b"xy" + struct.pack(">h", 4) + props
    )
    with pytest.raises(MessageDecodeError):
        decode_batch(body[:-1])


def test_apache_commit_log_records(apache_store_dir: Path) -> None:
    cl = apache_store_dir / "data" / "commitlog"
    data = (cl / "00000000000000000000").read_bytes() + (cl / "00000000000000065536").read_bytes()
    assert struct.unpack_from(">ii", data, 65462) == (74, BLANK_MAGIC_CODE)
    sent = [json.loads(line) for line in (apache_store_dir / "messages.jsonl").read_text().splitlines()]
    for m in sent:
        msg = decode_record(data, m["offsetMsgId_commitlog_offset"], decompress=True)
        assert msg.offset_msg_id == m["offsetMsgId"]
        assert msg.msg_id == m["msgId"]
        assert hashlib.sha256(msg.body).hexdigest() == m["body_sha256"]
        stored = decode_record(data, m["offsetMsgId_commitlog_offset"])
        assert msg.body_crc == stored.body_crc == zlib.crc32(stored.body) & 0x7FFFFFFF
        if m["delay_level"]:
            assert msg.topic == "SCHEDULE_TOPIC_XXXX"
            assert msg.properties["REAL_TOPIC"] == m["topic"]
            continue
        assert (msg.topic, msg.queue_id, msg.queue_offset) == (m["topic"], m["queueId"], m["queueOffset"])
        assert msg.tags == m.get("tags")
        assert msg.keys == m["keys"]
        assert msg.properties["CLUSTER"] == "DefaultCluster"
        for k, v in m["user_properties"].items():
            assert msg.properties[k] == v


def test_encode_record_into_buffer() -> None:
    bm = BrokerMessage(topic="T", queue_id=1, body=b"abc", properties_str="A\x01b\x02")
    buf = bytearray(300)
    size = encode_record_into(buf, 10, bm, 5, 10, 99)
    assert size == record_size(3, 1, 4)
    assert bytes(buf[10 : 10 + size]) == encode_record(bm, 5, 10, 99)
