"""Frame and header codec: golden bytes from the spec, real captured frames, round trips."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_core.errors import FrameTooLargeError, RemoteProtocolError
from broker_core.remoting.codes import LanguageCode, SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.frame import FrameDecoder, encode_frame
from broker_core.remoting.serialization import decode_json_header


def fixtures_dir() -> Path:
    env = os.environ.get("ROCKETMQ_FIXTURES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures"


WIRE = fixtures_dir() / "apache-4.9.8" / "wire"

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


def captured_frames() -> list[tuple[str, dict[str, object]]]:
    out = []
    for session in ("cpp", "java"):
        index = WIRE / session / "frames.jsonl"
        if not index.exists():
            continue
        for line in index.read_text().splitlines():
            meta = json.loads(line)
            out.append((f"{session}/{meta['file']}", meta))
    return out


@pytest.mark.parametrize(("name", "meta"), captured_frames(), ids=[n for n, _ in captured_frames()])
def test_captured_frames_decode_and_reencode(name: str, meta: dict[str, object]) -> None:
    data = (WIRE / name).read_bytes()
    cmd = decode_one(data)
    header = meta["header"]
    assert isinstance(header, dict)
    assert cmd.code == header["code"]
    assert cmd.opaque == header["opaque"]
    assert cmd.flag == header["flag"]
    assert cmd.version == header["version"]
    assert LanguageCode(cmd.language).name == header["language"]
    expected_ext = {
        k: str(v) if not isinstance(v, bool) else str(v).lower()
        for k, v in (header.get("extFields") or {}).items()
    }
    if meta["serialize_type"] == "ROCKETMQ":
        expected_ext = {k: v for k, v in expected_ext.items() if v != ""}
    assert (cmd.ext_fields or {}) == expected_ext
    assert len(cmd.body or b"") == meta["body_length"]
    if meta["serialize_type"] == "ROCKETMQ":
        # Binary headers are canonical: our encoder must reproduce the captured bytes' length and content.
        again = decode_one(encode_frame(cmd))
        assert again == cmd
    else:
        again = decode_one(encode_frame(cmd))
        assert (again.code, again.opaque, again.ext_fields, again.body, again.remark or None) == (
            cmd.code,
            cmd.opaque,
            cmd.ext_fields,
            cmd.body,
            cmd.remark or None,
        )


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


@settings(max_examples=200, deadline=None)
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
