"""NamesrvConfig: Apache property keys, our expiry key, black list, properties text."""

from __future__ import annotations

from pathlib import Path

from broker_core.config.namesrv import NamesrvConfig, parse_properties


def test_parse_properties_forms() -> None:
    text = "# comment\n! also\nlistenPort = 9999\nkvConfigPath:/x/kv.json\norderMessageEnable true\n\n"
    assert parse_properties(text) == {
        "listenPort": "9999",
        "kvConfigPath": "/x/kv.json",
        "orderMessageEnable": "true",
    }


def test_from_properties_applies_apache_keys_and_ignores_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text(
        "listenPort=9999\nbindAddress=0.0.0.0\norderMessageEnable=TRUE\nbrokerChannelExpiredTime=1500\n"
        "scanNotActiveBrokerInterval=200\nclusterTest=yes\nunknownKey=1\nserverChannelMaxIdleTimeSeconds=oops\n",
        encoding="utf-8",
    )
    config = NamesrvConfig.from_file(path)
    assert (config.port, config.host) == (9999, "0.0.0.0")
    assert config.order_message_enable is True
    assert config.broker_channel_expired_seconds == 1.5
    assert config.scan_not_active_broker_interval == 0.2
    assert config.cluster_test is False  # Boolean.parseBoolean("yes")
    assert config.channel_max_idle_seconds == 120.0  # unparsable: default kept
    assert config.kv_config_path is None


def test_defaults_and_remoting() -> None:
    config = NamesrvConfig()
    assert (config.port, config.broker_channel_expired_seconds, config.scan_not_active_broker_interval) == (
        9876,
        120.0,
        10.0,
    )
    assert config.remoting().port == 9876


def test_properties_text_round_trips() -> None:
    config = NamesrvConfig(port=1234, order_message_enable=True, broker_channel_expired_seconds=2.5)
    again = NamesrvConfig.from_properties(parse_properties(config.to_properties()))
    assert again == config


def test_black_list() -> None:
    config = NamesrvConfig()
    assert config.black_listed({"kvConfigPath": "x", "listenPort": "1"}) == ["kvConfigPath"]
    assert config.black_listed({"configBlackList": ""}) == ["configBlackList"]
    assert config.black_listed({"orderMessageEnable": "true"}) == []
