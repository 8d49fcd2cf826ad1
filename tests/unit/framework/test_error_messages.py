"""Errors that say what to do: each message names the problem and the fix (issue: the first hour)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker_core import errors as core_errors
from broker_core.broker.app import configs_from_args
from broker_core.config.broker import broker_config_from_properties
from broker_core.config.namesrv import NamesrvConfig
from broker_core.config.store import StoreConfig
from broker_core.config.values import did_you_mean, parse_size
from broker_core.errors import ConfigError, NotRocketMQPeerError
from broker_core.remoting.codes import RequestCode
from broker_core.remoting.frame import FrameDecoder
from rocketmq_integration.client import ClientConfig, Producer
from rocketmq_integration.client.api import MQClientAPI
from rocketmq_integration.containers import TemplateRegistry
from rocketmq_integration.errors import (
    ListenerConfigError,
    RemotingTimeoutError,
    TemplateNotConfiguredError,
    ValidationError,
)
from rocketmq_integration.listeners import ConsumeFrom, ConsumeMode, MessageModel, SelectorType, build_spec


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def broker_log() -> Iterator[Records]:
    handler = Records()
    target = logging.getLogger("broker_core")
    target.addHandler(handler)
    old = target.level
    target.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        target.removeHandler(handler)
        target.setLevel(old)


# ---------------------------------------------------------------- client and framework


def test_namesrv_addr_without_port_says_host_port() -> None:
    with pytest.raises(
        ValidationError, match=r"'127.0.0.1' has no port; expected host:port such as 127.0.0.1:9876"
    ):
        Producer("g", namesrv_addr="127.0.0.1")
    with pytest.raises(ValueError, match="bad port 'x'"):
        ClientConfig(namesrv_addr="127.0.0.1:9876;10.0.0.1:x")
    assert ClientConfig(namesrv_addr="localhost:9876; 10.0.0.2:9876").namesrv_addrs == [
        "localhost:9876",
        "10.0.0.2:9876",
    ]


def test_listener_attributes_accept_the_documented_strings() -> None:
    spec = build_spec(
        lambda p: None, topic="t", consumer_group="g", selector_type="SQL92", selector_expression="a = 1",
        consume_mode="ORDERLY", consume_from="FIRST_OFFSET",
    )  # fmt: skip
    assert spec.selector_type is SelectorType.SQL92
    assert spec.consume_mode is ConsumeMode.ORDERLY
    assert spec.consume_from is ConsumeFrom.FIRST_OFFSET
    spec = build_spec(
        lambda p: None, topic="t", consumer_group="g", message_model="broadcasting",
        consume_from="CONSUME_FROM_TIMESTAMP",
    )  # fmt: skip
    assert spec.message_model is MessageModel.BROADCASTING
    assert spec.consume_from is ConsumeFrom.TIMESTAMP


def test_a_bad_listener_string_lists_the_choices_and_the_documented_type() -> None:
    with pytest.raises(ListenerConfigError) as info:
        build_spec(lambda p: None, topic="t", consumer_group="g", consume_mode="SERIAL")
    text = str(info.value)
    assert "'consume_mode': 'SERIAL' is not one of 'CONCURRENTLY', 'ORDERLY'" in text
    assert "ConsumeMode" in text and "ListenerKind" not in text
    with pytest.raises(ListenerConfigError, match="a string or a ConsumeMode member"):
        build_spec(lambda p: None, topic="t", consumer_group="g", consume_mode=3)


def test_unknown_template_names_the_configured_ones_and_the_settings_shape() -> None:
    registry = TemplateRegistry(object(), {"audit": {"producer": {"group": "a"}}}, None, "127.0.0.1:9876")  # type: ignore[arg-type]
    with pytest.raises(KeyError) as info:
        registry.get("billing")
    assert isinstance(info.value, TemplateNotConfiguredError)
    text = str(info.value)
    assert "no RocketMQ template named 'billing' is configured (configured: audit, default)" in text
    assert '{"templates": {"billing": {"name_server": "host:9876"' in text


def test_request_timeout_is_rounded_and_names_the_request() -> None:
    class SlowRemoting:
        async def invoke(self, addr: str, cmd: object, timeout: float) -> object:
            raise core_errors.RemotingTimeoutError("timeout")

    api = MQClientAPI(SlowRemoting(), ClientConfig())  # type: ignore[arg-type]
    with pytest.raises(RemotingTimeoutError) as info:
        asyncio.run(
            api.invoke("127.0.0.1:10911", api.request(RequestCode.SEND_MESSAGE_V2), 2.9982626329999675)
        )
    assert "request SEND_MESSAGE_V2 (310) to 127.0.0.1:10911 got no answer within 3.0s" in str(info.value)
    assert "2.998" not in str(info.value)


def test_an_http_peer_is_named_as_not_rocketmq() -> None:
    with pytest.raises(NotRocketMQPeerError) as info:
        FrameDecoder().feed(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    assert "does not speak the RocketMQ remoting protocol" in str(info.value)
    assert "an HTTP server?" in str(info.value) and "check the address and port" in str(info.value)
    assert "1213486160" not in str(info.value)
    with pytest.raises(core_errors.FrameTooLargeError) as binary:
        FrameDecoder(max_frame_length=16).feed(b"\x00\x01\x00\x00\x00\x00\x00\x00")
    assert not isinstance(binary.value, NotRocketMQPeerError)


# ---------------------------------------------------------------- broker.conf and namesrv -c


def test_size_units_are_accepted_for_byte_counts(tmp_path: Path) -> None:
    cfg = StoreConfig.from_properties(
        {
            "maxMessageSize": "4MB",
            "mappedFileSizeCommitLog": "1g",
            "maxTransferBytesOnMessageInDisk": "64KiB",
        },
        tmp_path,
    )
    assert (cfg.max_message_size, cfg.mapped_file_size_commit_log) == (4 << 20, 1 << 30)
    assert cfg.max_transfer_bytes_on_message_in_disk == 64 << 10
    assert parse_size("4194304") == 4194304
    with pytest.raises(
        ConfigError, match=r"invalid value '4XB' for maxMessageSize: expected a byte count such as"
    ):
        StoreConfig.from_properties({"maxMessageSize": "4XB"}, tmp_path)
    with pytest.raises(
        ConfigError, match="invalid value '10s' for flushIntervalCommitLog: expected an integer"
    ):
        StoreConfig.from_properties({"flushIntervalCommitLog": "10s"}, tmp_path)


def test_enum_values_list_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="'SYNCFLUSH' for flushDiskType: expected one of ASYNC_FLUSH, SYNC_FLUSH"
    ):
        StoreConfig.from_properties({"flushDiskType": "SYNCFLUSH"}, tmp_path)
    assert (
        StoreConfig.from_properties({"flushDiskType": "sync_flush"}, tmp_path).flush_disk_type.value
        == "SYNC_FLUSH"
    )
    with pytest.raises(
        ConfigError, match="'MASTER' for brokerRole: expected one of ASYNC_MASTER, SYNC_MASTER, SLAVE"
    ):
        broker_config_from_properties({"brokerRole": "MASTER"})


def _broker_args(tmp_path: Path, conf: str, namesrv: str | None = "127.0.0.1:9876") -> argparse.Namespace:
    path = tmp_path / "broker.conf"
    path.write_text(conf)
    return argparse.Namespace(
        config=str(path), namesrv=namesrv, host=None, port=None, store_dir=str(tmp_path / "store"),
        cluster=None, broker_name=None, broker_id=None,
    )  # fmt: skip


def test_unknown_broker_conf_key_gets_a_did_you_mean(tmp_path: Path, broker_log: Records) -> None:
    configs_from_args(
        _broker_args(tmp_path, "maxMesageSize=1024\nflushdisktype=ASYNC_FLUSH\nnoSuchThing=1\n")
    )
    unknown = {
        r.structlog["key"]: r.structlog.get("did_you_mean")
        for r in broker_log.records
        if "unknown" in r.getMessage()
    }  # type: ignore[attr-defined]
    assert unknown == {
        "maxMesageSize": "maxMessageSize",
        "flushdisktype": "flushDiskType",
        "noSuchThing": None,
    }
    assert did_you_mean("autoCreateTopicEnabled", ["autoCreateTopicEnable"]) == "autoCreateTopicEnable"


def test_broker_without_namesrv_warns_that_it_registers_nowhere(tmp_path: Path, broker_log: Records) -> None:
    configs_from_args(_broker_args(tmp_path, "", namesrv=None))
    (warning,) = [r for r in broker_log.records if r.levelno == logging.WARNING]
    assert "registers nowhere and clients cannot find it" in warning.getMessage()
    assert "--namesrv" in warning.getMessage()


def test_namesrv_c_is_validated_like_the_broker_conf(tmp_path: Path) -> None:
    conf = tmp_path / "namesrv.properties"
    conf.write_text("listenPort=98x6\n")
    with pytest.raises(ConfigError, match="invalid value '98x6' for listenPort: expected an integer"):
        NamesrvConfig.from_file_checked(conf)
    conf.write_text("orderMessageEnable=yes\n")
    with pytest.raises(
        ConfigError, match="invalid value 'yes' for orderMessageEnable: expected true or false"
    ):
        NamesrvConfig.from_file_checked(conf)
    conf.write_text("listenPort=70000\n")
    with pytest.raises(ConfigError, match="expected a port number 0..65535"):
        NamesrvConfig.from_file_checked(conf)
    conf.write_text("listenPort=9877\nlistenport2=1\nkvConfigPth=/tmp/kv.json\n")
    cfg, unknown = NamesrvConfig.from_file_checked(conf)
    assert cfg.port == 9877
    assert unknown == {"listenport2": "listenPort", "kvConfigPth": "kvConfigPath"}
    with pytest.raises(ConfigError, match="cannot read config file"):
        NamesrvConfig.from_file_checked(tmp_path / "missing.properties")


def test_broker_help_shows_the_default_store_and_what_no_namesrv_means() -> None:
    from broker_core.__main__ import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    text = " ".join(sub.choices["broker"].format_help().split())
    assert "default ~/store" in text
    assert "without it the broker registers nowhere" in text
