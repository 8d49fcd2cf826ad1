"""RegisterBrokerBody: the captured Apache 4.9.8 REGISTER_BROKER requests, and the compressed form."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from broker_core.remoting.body import (
    DataVersion,
    RegisterBrokerBody,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicFilterType,
    body_crc32,
)
from broker_core.remoting.command import RemotingCommand
from tests.support.fixtures import wire_command


def _frame(name: str) -> RemotingCommand:
    return wire_command(name)


CAPTURED = [
    "cpp/001-c2s-request-REGISTER_BROKER.bin",
    "cpp/006-c2s-request-REGISTER_BROKER.bin",
    "cpp/029-c2s-request-REGISTER_BROKER.bin",
    "java/010-c2s-request-REGISTER_BROKER.bin",
]


@pytest.mark.parametrize("name", CAPTURED)
def test_captured_body_crc_matches_header(name: str) -> None:
    cmd = _frame(name)
    assert cmd.body is not None and cmd.ext_fields is not None
    assert body_crc32(cmd.body) == int(cmd.ext_fields["bodyCrc32"])


@pytest.mark.parametrize("name", CAPTURED)
def test_captured_body_decodes_and_re_encodes_byte_for_byte(name: str) -> None:
    cmd = _frame(name)
    assert cmd.body is not None
    body = RegisterBrokerBody.decode(cmd.body, compressed=False, version=cmd.version)
    assert body.filter_server_list == ()
    # same field order and table order as fastjson wrote it
    assert body.to_json() == cmd.body
    assert body.encode(compress=False) == cmd.body


def test_startup_registration_content() -> None:
    cmd = _frame("cpp/001-c2s-request-REGISTER_BROKER.bin")
    assert cmd.body is not None
    body = RegisterBrokerBody.decode(cmd.body)
    table = body.topic_config_wrapper.topic_config_table
    assert table["TBW102"] == TopicConfig("TBW102", 8, 8, 7)
    assert table["SCHEDULE_TOPIC_XXXX"].read_queue_nums == 18
    assert table["BenchmarkTest"].write_queue_nums == 1024
    assert body.topic_config_wrapper.data_version == DataVersion(1795711932889, 0)


def test_incremental_registration_content() -> None:
    cmd = _frame("cpp/006-c2s-request-REGISTER_BROKER.bin")
    assert cmd.body is not None
    body = RegisterBrokerBody.decode(cmd.body)
    assert dict(body.topic_config_wrapper.topic_config_table) == {
        "FxWireTopic": TopicConfig("FxWireTopic", 1, 1, 6)
    }
    assert body.topic_config_wrapper.data_version.counter == 1


def _sample() -> RegisterBrokerBody:
    table = {
        "A": TopicConfig("A", 4, 4, 6, topic_sys_flag=1, order=True),
        "B": TopicConfig("B", 2, 1, 4, TopicFilterType.MULTI_TAG),
    }
    return RegisterBrokerBody(
        TopicConfigSerializeWrapper(table, DataVersion(1700000000000, 7)), ("10.0.0.9:1",)
    )


def test_compressed_matches_hand_built_layout() -> None:
    """Build the compressed layout independently with struct and compare the inflated bytes."""

    def chunk(b: bytes) -> bytes:
        return struct.pack(">i", len(b)) + b

    expected = (
        chunk(b'{"counter":7,"timestamp":1700000000000}')
        + struct.pack(">i", 2)
        + chunk(b"A 4 4 6 SINGLE_TAG")
        + chunk(b"B 2 1 4 MULTI_TAG")
        + chunk(b'["10.0.0.9:1"]')
    )
    data = _sample().encode(compress=True)
    assert data[:1] == b"\x78"  # zlib header, as Java's Deflater writes
    assert zlib.decompress(data) == expected
    decoded = RegisterBrokerBody.decode(zlib.compress(expected), compressed=True)
    assert decoded.topic_config_wrapper.topic_config_table["B"] == TopicConfig(
        "B", 2, 1, 4, TopicFilterType.MULTI_TAG
    )


def test_compressed_round_trip_loses_sysflag_and_order() -> None:
    body = _sample()
    decoded = RegisterBrokerBody.decode(body.encode(compress=True), compressed=True)
    assert decoded.filter_server_list == ("10.0.0.9:1",)
    assert decoded.topic_config_wrapper.data_version == DataVersion(1700000000000, 7)
    assert decoded.topic_config_wrapper.topic_config_table["A"] == TopicConfig("A", 4, 4, 6)


def test_json_round_trip() -> None:
    body = _sample()
    assert RegisterBrokerBody.decode(body.encode()) == body
    assert json.loads(body.to_json())["filterServerList"] == ["10.0.0.9:1"]


def test_old_broker_sends_a_bare_wrapper() -> None:
    wrapper = _sample().topic_config_wrapper
    decoded = RegisterBrokerBody.decode(wrapper.to_json(), compressed=False, version=36)
    assert decoded.topic_config_wrapper == wrapper


@pytest.mark.parametrize(
    "data",
    [b"not zlib", zlib.compress(b"\x00\x00"), zlib.compress(struct.pack(">i", 100) + b"{}")],
)
def test_malformed_compressed_body_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        RegisterBrokerBody.decode(data, compressed=True)


def test_body_crc32_clears_the_sign_bit() -> None:
    assert body_crc32(None) == 0
    assert body_crc32(b"") == 0
    for sample in (b"a", b"hello", bytes(range(256))):
        assert body_crc32(sample) == zlib.crc32(sample) & 0x7FFFFFFF
