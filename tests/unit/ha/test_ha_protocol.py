"""The HA stream codecs: byte layouts and decoders fed in arbitrary pieces (no sockets)."""

from __future__ import annotations

import random

import pytest

from broker_core.errors import RemoteProtocolError
from broker_core.ha.protocol import (
    ReportDecoder,
    TransferDecoder,
    TransferFrame,
    encode_report,
    encode_transfer,
)


def test_report_is_8_byte_big_endian_offset() -> None:
    assert encode_report(0x0102030405060708) == bytes([1, 2, 3, 4, 5, 6, 7, 8])


def test_transfer_header_is_offset_then_size_big_endian() -> None:
    frame = encode_transfer(65536, b"abc")
    assert frame[:8] == (65536).to_bytes(8, "big")
    assert frame[8:12] == (3).to_bytes(4, "big")
    assert frame[12:] == b"abc"
    assert encode_transfer(7) == (7).to_bytes(8, "big") + bytes(4)  # heartbeat


def test_report_decoder_keeps_only_the_last_complete_report() -> None:
    dec = ReportDecoder()
    stream = encode_report(10) + encode_report(20) + encode_report(30)[:5]
    assert dec.feed(stream) == 20
    assert dec.feed(b"") is None
    assert dec.feed(encode_report(30)[5:]) == 30


def test_report_decoder_rejects_negative_offsets() -> None:
    with pytest.raises(RemoteProtocolError):
        ReportDecoder().feed(encode_report(-1))


def test_transfer_decoder_reassembles_frames_split_anywhere() -> None:
    rng = random.Random(7)
    frames = [
        TransferFrame(i * 1000, bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))))
        for i in range(50)
    ]
    stream = b"".join(encode_transfer(f.phy_offset, f.data) for f in frames)
    for _ in range(20):
        dec = TransferDecoder()
        out: list[TransferFrame] = []
        pos = 0
        while pos < len(stream):
            step = rng.randrange(1, 64)
            out.extend(dec.feed(stream[pos : pos + step]))
            pos += step
        assert out == frames
        assert dec.buffered == 0


def test_transfer_decoder_flags_heartbeats_and_rejects_bad_headers() -> None:
    (frame,) = TransferDecoder().feed(encode_transfer(42))
    assert frame.is_heartbeat and frame.phy_offset == 42
    with pytest.raises(RemoteProtocolError):
        TransferDecoder().feed((-1).to_bytes(8, "big", signed=True) + bytes(4))
    with pytest.raises(RemoteProtocolError):
        TransferDecoder(max_body=10).feed((0).to_bytes(8, "big") + (11).to_bytes(4, "big"))


def test_master_and_slave_codecs_piped_together() -> None:
    """A slave report drives what the master sends; the slave decodes what it needs next."""
    log = bytes(range(256)) * 40
    master_in, slave_in = ReportDecoder(), TransferDecoder()
    slave_log = bytearray()
    wire_to_master = encode_report(len(slave_log))
    for _ in range(100):
        want = master_in.feed(wire_to_master)
        assert want is not None
        wire_to_slave = encode_transfer(want, log[want : want + 333])
        for frame in slave_in.feed(wire_to_slave):
            assert frame.phy_offset == len(slave_log)
            slave_log += frame.data
        wire_to_master = encode_report(len(slave_log))
        if len(slave_log) == len(log):
            break
    assert bytes(slave_log) == log
