"""Offset msgId and UNIQ_KEY generation/parsing."""

from __future__ import annotations

import re

import pytest

from broker_core.message import (
    UniqIdGenerator,
    create_offset_msg_id,
    decode_offset_msg_id,
    offset_msg_id_prefix,
    parse_uniq_id,
)


def test_offset_msg_id_matches_apache() -> None:
    # From the fixture's send responses: 127.0.0.1:10911, commit-log offset 0xABC
    assert create_offset_msg_id(("127.0.0.1", 10911), 0xABC) == "7F00000100002A9F0000000000000ABC"
    assert decode_offset_msg_id("7F00000100002A9F0000000000000ABC") == (("127.0.0.1", 10911), 2748)
    assert offset_msg_id_prefix(("127.0.0.1", 10911)) == "7F00000100002A9F"


def test_offset_msg_id_ipv6() -> None:
    msg_id = create_offset_msg_id(("fd00::2", 10911), 1 << 40)
    assert len(msg_id) == 56
    assert decode_offset_msg_id(msg_id) == (("fd00::2", 10911), 1 << 40)


def test_offset_msg_id_bad_length() -> None:
    with pytest.raises(ValueError):
        decode_offset_msg_id("ABCD")


def test_uniq_id_shape_and_parse() -> None:
    gen = UniqIdGenerator(ip=bytes([192, 0, 2, 2]), pid=0x12345, seed=7)
    a = gen.create(now_ms=1_700_000_000_000)
    b = gen.create(now_ms=1_700_000_000_000)
    assert re.fullmatch(r"[0-9A-F]{32}", a)
    assert a != b
    assert a[:20] == b[:20] == gen.fixed_prefix
    assert a.startswith("C0000202" + "2345")
    info_a, info_b = parse_uniq_id(a), parse_uniq_id(b)
    assert info_a.ip == "192.0.2.2"
    assert info_a.pid == 0x2345
    assert info_b.counter == (info_a.counter + 1) & 0xFFFF
    assert info_a.nearly_timestamp(now_ms=1_700_000_000_000) == 1_700_000_000_000


def test_uniq_id_default_host_and_java_ipv6_id() -> None:
    assert len(UniqIdGenerator().create()) in (32, 56)
    # a Java client UNIQ_KEY from the fixture store (IPv6 based)
    info = parse_uniq_id("FD000000000000000000000000000002475C30946E09845EFF790000")
    assert info.ip == "fd00::2"
    assert info.counter == 0


def test_uniq_id_month_offset_wraps_like_java_int_cast() -> None:
    gen = UniqIdGenerator(ip=bytes([10, 0, 0, 1]), pid=1, seed=1)
    # 2023-11-30 UTC-ish: more than 2**31 ms after the start of the month in any time zone
    now = 1_701_300_000_000
    info = parse_uniq_id(gen.create(now_ms=now))
    assert info.month_ms > 2**31
    assert info.nearly_timestamp(now_ms=now) == now
