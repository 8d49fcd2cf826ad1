"""Frame and header codec: golden bytes from the spec, real captured frames, round trips."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_core.errors import FrameTooLargeError, RemoteProtocolError
from broker_core.remoting.codes import LanguageCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.frame import FrameDecoder, encode_frame
from broker_core.remoting.serialization import decode_header, decode_json_header
from tests.support.fixtures import all_wire_frames, frame_body, sha256_hex, wire_bytes

# Spec remoting.md 1.11: GET_ROUTEINFO_BY_TOPIC, ROCKETMQ binary, written out byte by byte.
SPEC_BINARY = bytes.fromhex(
    "0000002d"  # length 45
    "01000029"  # type 1, header length 41
    "0069"  # code 105
    "00"  # language JAVA
    "0199"  # version 409
    "00000001"  # opaque 1
    "00000000"  # flag 0
    "00000000"  # remark length 0
    "00000014"  # extFields length 20
    "0005" + b"topic".hex() + "00000009" + b"TopicTest".hex()
)
SPEC_JSON_HEADER = (
    b'{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA",'
    b'"opaque":1,"serializeTypeCurrentRPC":"JSON","version":409}'
)


def decode_one(data: bytes) -> RemotingCommand:
    cmds = FrameDecoder().feed(data)
    assert len(cmds) == 1
    return cmds[0]


def test_spec_binary_example_decodes() -> None:
    cmd = decode_one(SPEC_BINARY)
    assert (cmd.code, cmd.language, cmd.version, cmd.opaque, cmd.flag) == (105, LanguageCode.JAVA, 409, 1, 0)
    assert cmd.remark is None
    assert cmd.ext_fields == {"topic": "TopicTest"}
    assert cmd.body is None
    assert cmd.serialize_type == SerializeType.ROCKETMQ


def test_spec_binary_example_encodes_identically() -> None:
    cmd = RemotingCommand(
        code=105,
        opaque=1,
        language=LanguageCode.JAVA,
        version=409,
        ext_fields={"topic": "TopicTest"},
        serialize_type=SerializeType.ROCKETMQ,
    )
    assert encode_frame(cmd) == SPEC_BINARY


def test_spec_json_example_encodes_identically() -> None:
    cmd = RemotingCommand(
        code=105, opaque=1, language=LanguageCode.JAVA, version=409, ext_fields={"topic": "TopicTest"}
    )
    frame = encode_frame(cmd)
    assert frame[:8] == bytes.fromhex("0000008700000083")
    assert frame[8:] == SPEC_JSON_HEADER
    assert len(frame) == 139


def test_cpp_style_json_header_mixes_numbers_and_strings() -> None:
    header = b'{"code":10,"language":"CPP","version":63,"opaque":7,"flag":0,"remark":"","extFields":{"queueId":0,"sysFlag":1,"reconsumeTimes":"0","unitMode":false}}\n'
    cmd = decode_json_header(header)
    assert cmd.language == LanguageCode.CPP
    assert cmd.ext_fields == {"queueId": "0", "sysFlag": "1", "reconsumeTimes": "0", "unitMode": "false"}


CAPTURED = all_wire_frames()
#: Frames written by Apache's own Java code (both servers, the Java client, the broker's registrations):
#: our encoder must reproduce these byte for byte. The others were written by the C++ client or by the
#: capture harness's Python helper, whose JSON key order and number types differ from fastjson's.
EXACT = [
    (n, m)
    for n, m in CAPTURED
    if m["direction"] == "s2c" or m["peer"].startswith(("broker→", "client(java)"))
]
FOREIGN = [(n, m) for n, m in CAPTURED if (n, m) not in EXACT]


def test_every_captured_frame_is_in_one_comparison() -> None:
    assert len(CAPTURED) == 75
    assert (len(EXACT), len(FOREIGN)) == (52, 23)
    assert {m["peer"].split("→")[0] for _, m in FOREIGN} == {"client(cpp)", "admin-helper(python)"}


def _java_string(value: object) -> str:
    """How an extFields value reads once it is a Java ``String`` (the C++ client sends some as numbers)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def command_from_index(name: str, meta: dict[str, object]) -> RemotingCommand:
    """The command a frame carries, built from ``frames.jsonl`` and the body bytes, not by our decoder."""
    header = meta["header"]
    assert isinstance(header, dict)
    ext = header.get("extFields")
    body = frame_body(wire_bytes(name))
    return RemotingCommand(
        code=header["code"],
        opaque=header["opaque"],
        flag=header["flag"],
        language=LanguageCode[header["language"]],
        version=header["version"],
        remark=header.get("remark"),
        ext_fields=None if ext is None else {k: _java_string(v) for k, v in ext.items()},
        body=body or None,
        serialize_type=SerializeType[str(meta["serialize_type"])],
    )


@pytest.mark.parametrize(("name", "meta"), CAPTURED, ids=[n for n, _ in CAPTURED])
def test_captured_frame_body_is_the_indexed_body(name: str, meta: dict[str, object]) -> None:
    data = wire_bytes(name)
    assert len(data) == 4 + int.from_bytes(data[:4], "big") == meta["frame_len"]
    assert int.from_bytes(data[5:8], "big") == meta["header_length"]
    body = frame_body(data)
    assert len(body) == meta["body_length"]
    assert (sha256_hex(body) if body else None) == meta["body_sha256"]


@pytest.mark.parametrize(("name", "meta"), CAPTURED, ids=[n for n, _ in CAPTURED])
def test_captured_frames_decode_to_the_indexed_header(name: str, meta: dict[str, object]) -> None:
    cmd = decode_one(wire_bytes(name))
    expected = command_from_index(name, meta)
    if expected.serialize_type == SerializeType.ROCKETMQ and expected.ext_fields is not None:
        # a zero-length binary value is Java's null: the map entry is absent once decoded
        expected.ext_fields = {k: v for k, v in expected.ext_fields.items() if v != ""}
    assert cmd == expected
    assert list((cmd.ext_fields or {}).items()) == list((expected.ext_fields or {}).items())


@pytest.mark.parametrize(("name", "meta"), EXACT, ids=[n for n, _ in EXACT])
def test_encoder_reproduces_apache_frames_byte_for_byte(name: str, meta: dict[str, object]) -> None:
    assert encode_frame(command_from_index(name, meta)) == wire_bytes(name)


@pytest.mark.parametrize(("name", "meta"), FOREIGN, ids=[n for n, _ in FOREIGN])
def test_encoder_keeps_every_field_and_the_exact_body_of_foreign_frames(
    name: str, meta: dict[str, object]
) -> None:
    """C++ / helper frames: same header fields (values as Java strings, fastjson's extra
    ``serializeTypeCurrentRPC``), same body bytes; only key order and number-vs-string differ."""
    captured = wire_bytes(name)
    ours = encode_frame(command_from_index(name, meta))
    header = meta["header"]
    assert isinstance(header, dict)
    expected = dict(header, serializeTypeCurrentRPC="JSON")
    if "extFields" in header:
        expected["extFields"] = {k: _java_string(v) for k, v in header["extFields"].items()}
    hlen = int.from_bytes(ours[5:8], "big")
    assert json.loads(ours[8 : 8 + hlen]) == expected
    assert frame_body(ours) == frame_body(captured)
    assert ours[4] == captured[4] == SerializeType.JSON


def test_encoder_mutation_is_caught_by_the_byte_exact_comparison() -> None:
    """Positive control: one changed header byte makes every byte-exact comparison fail.

    The byte is flipped in the encoded frame (not by patching the encoder: the mypyc-compiled
    frame module calls the header encoder directly, so a monkeypatch would not reach it).
    """

    def off_by_one_byte(frame: bytes) -> bytes:
        header_length = int.from_bytes(frame[4:8], "big") & 0xFFFFFF
        out = bytearray(frame)
        out[8 + header_length // 2] ^= 0x01
        return bytes(out)

    caught = [
        name
        for name, meta in EXACT
        if off_by_one_byte(encode_frame(command_from_index(name, meta))) != wire_bytes(name)
    ]
    assert caught == [name for name, _ in EXACT]


def test_decoder_handles_byte_by_byte_feeding_and_multiple_frames() -> None:
    frames = encode_frame(RemotingCommand(code=34, opaque=5, body=b"x" * 100)) + SPEC_BINARY
    dec = FrameDecoder()
    got: list[RemotingCommand] = []
    for i in range(len(frames)):
        got += dec.feed(frames[i : i + 1])
    assert [c.code for c in got] == [34, 105]
    assert got[0].body == b"x" * 100
    assert dec.buffered == 0


def test_oversized_frame_rejected_before_buffering() -> None:
    dec = FrameDecoder(max_frame_length=1024)
    with pytest.raises(FrameTooLargeError):
        dec.feed(struct.pack(">ii", 1025, 10))


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">ii", 10, 50) + b"\x00" * 6,  # header length beyond the frame
        struct.pack(">ii", 2, 0),  # length smaller than the type word
        struct.pack(">ii", 14, (0 << 24) | 10) + b"not json!!",  # JSON header that does not parse
        struct.pack(">ii", 14, (5 << 24) | 10) + b"\x00" * 10,  # unknown serialize type
        struct.pack(">ii", 14, (1 << 24) | 10) + b"\x00" * 10,  # binary header too short
    ],
)
def test_malformed_frames_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        FrameDecoder().feed(data)


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=200)
@given(
    code=st.integers(min_value=-32768, max_value=32767),
    opaque=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    flag=st.sampled_from([0, 1, 2, 3]),
    remark=st.one_of(st.none(), text.filter(bool)),
    ext=st.one_of(st.none(), st.dictionaries(text.filter(bool), text.filter(bool), min_size=1, max_size=8)),
    body=st.one_of(st.none(), st.binary(min_size=1, max_size=300)),
    stype=st.sampled_from([SerializeType.JSON, SerializeType.ROCKETMQ]),
)
def test_round_trip_both_serialisations(
    code: int,
    opaque: int,
    flag: int,
    remark: str | None,
    ext: dict[str, str] | None,
    body: bytes | None,
    stype: SerializeType,
) -> None:
    cmd = RemotingCommand(
        code=code, opaque=opaque, flag=flag, remark=remark, ext_fields=ext, body=body, serialize_type=stype
    )
    assert decode_one(encode_frame(cmd)) == cmd


def _binary_header(
    entries: list[tuple[bytes, bytes]], remark: bytes = b"", value_len: int | None = None
) -> bytes:
    """A ROCKETMQ header written by hand (``value_len`` overrides the last entry's length word)."""
    ext = b""
    for i, (k, v) in enumerate(entries):
        vlen = value_len if value_len is not None and i == len(entries) - 1 else len(v)
        ext += struct.pack(">H", len(k)) + k + struct.pack(">i", vlen) + v
    return (
        struct.pack(">hBhii", 310, 0, 409, 7, 0)
        + struct.pack(">i", len(remark))
        + remark
        + (struct.pack(">i", len(ext)) + ext)
    )


def test_binary_header_values_of_every_length_byte_and_non_ascii_text() -> None:
    """Lengths whose bytes are >= 0x80 and UTF-8 keys/values next to ASCII ones decode exactly."""
    entries = [
        (b"a", b"x" * 200),
        ("kéy".encode(), "vàlue-✓-中".encode()),
        (b"i", b"UNIQ_KEY\x01AC11\x02WAIT\x01true" * 20),
        (b"z", b"\x7f" * 0x80),
    ]
    cmd = decode_header(SerializeType.ROCKETMQ, _binary_header(entries, "rémark".encode()))
    assert cmd.remark == "rémark" and cmd.opaque == 7 and cmd.code == 310
    assert cmd.ext_fields == {k.decode(): v.decode() for k, v in entries}


@pytest.mark.parametrize(
    "header",
    [
        _binary_header([(b"k", b"\xff\xfe")]),  # a value that is not UTF-8
        _binary_header([(b"\xc3", b"v")]),  # a key cut inside a UTF-8 sequence
        _binary_header([(b"k", b"v")], remark=b"\xe4\xb8"),  # a remark that is not UTF-8
        _binary_header([(b"k", b"v")], value_len=-1),  # a negative value length
        _binary_header([(b"k", b"v")], value_len=2),  # a value past the map
    ],
)
def test_malformed_binary_headers_raise_protocol_error(header: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_header(SerializeType.ROCKETMQ, header)
