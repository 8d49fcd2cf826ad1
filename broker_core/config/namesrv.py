"""NameServer settings (``NamesrvConfig`` + the namesrv's ``NettyServerConfig`` keys).

Loaded at the edge (the CLI's ``-c namesrv.properties``) with :meth:`NamesrvConfig.from_properties`
and passed down. Property keys are Apache's where Apache has one:

| key                               | field                                   | default |
|-----------------------------------|-----------------------------------------|---------|
| ``listenPort``                    | ``port``                                | 9876    |
| ``bindAddress``                   | ``host``                                | 127.0.0.1 |
| ``kvConfigPath``                  | ``kv_config_path``                      | unset: KV config kept in memory |
| ``orderMessageEnable``            | ``order_message_enable``                | false   |
| ``productEnvName``                | ``product_env_name``                    | center  |
| ``clusterTest``                   | ``cluster_test``                        | false   |
| ``serverChannelMaxIdleTimeSeconds`` | ``channel_max_idle_seconds``          | 120     |
| ``scanNotActiveBrokerInterval``   | ``scan_not_active_broker_interval`` (ms in the file) | 10000 ms (5.x key; 4.9.8 hard-codes 10 s) |
| ``brokerChannelExpiredTime``      | ``broker_channel_expired_seconds`` (ms in the file) | 120000 ms (our key; 4.9.8 hard-codes ``BROKER_CHANNEL_EXPIRED_TIME``) |

Unlike Apache (which defaults ``kvConfigPath`` to ``~/namesrv/kvConfig.json``) we never write to
the home directory unasked: without ``kvConfigPath`` the KV config lives in memory only.
At runtime (UPDATE_NAMESRV_CONFIG) unknown keys are ignored and unparsable values keep the current
value, as Java's ``properties2Object``. A ``-c`` file is read strictly instead
(:meth:`NamesrvConfig.from_file_checked`): a bad value is a :class:`~broker_core.errors.ConfigError`
naming the key and what it expects, an unknown key is reported with the closest known one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker_core.config.remoting import RemotingConfig
from broker_core.config.values import did_you_mean
from broker_core.errors import ConfigError

__all__ = ["NamesrvConfig", "parse_properties"]

#: UPDATE_NAMESRV_CONFIG refuses these keys (``configBlackList`` default).
DEFAULT_CONFIG_BLACK_LIST = "configBlackList;configStorePath;kvConfigPath"


def parse_properties(text: str) -> dict[str, str]:
    """A small Java ``.properties`` reader: ``k=v`` / ``k:v`` / ``k v``, ``#``/``!`` comments.

    Good enough for RocketMQ config files (no line continuations or unicode escapes in practice).
    """
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            key, _, value = line.partition(" ")
        else:
            key, value = line[:cut], line[cut + 1 :]
        out[key.strip()] = value.strip()
    return out


def _bool(value: str) -> bool:
    return value.strip().lower() == "true"


def _optional_str(value: str) -> str | None:
    return value.strip() or None


def _ms_to_s(value: str) -> float:
    return int(value.strip()) / 1000.0


def _strict_bool(value: str) -> bool:
    if value.strip().lower() not in ("true", "false"):
        raise ValueError("expected true or false")
    return value.strip().lower() == "true"


def _port(value: str) -> int:
    try:
        port = int(value.strip())
    except ValueError:
        raise ValueError("expected an integer") from None
    if not 0 <= port <= 65535:
        raise ValueError("expected a port number 0..65535")
    return port


_EXPECTS = {int: "an integer", float: "a number", _ms_to_s: "an integer number of milliseconds"}


# property key -> (field name, parser)
_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "listenPort": ("port", int),
    "bindAddress": ("host", str),
    "kvConfigPath": ("kv_config_path", _optional_str),
    "orderMessageEnable": ("order_message_enable", _bool),
    "productEnvName": ("product_env_name", str),
    "clusterTest": ("cluster_test", _bool),
    "serverChannelMaxIdleTimeSeconds": ("channel_max_idle_seconds", float),
    "scanNotActiveBrokerInterval": ("scan_not_active_broker_interval", _ms_to_s),
    "brokerChannelExpiredTime": ("broker_channel_expired_seconds", _ms_to_s),
    "configBlackList": ("config_black_list", str),
}


@dataclass(frozen=True, slots=True)
class NamesrvConfig:
    """NameServer settings; see the module docstring for the property keys.

    Attributes:
        host: listen address.
        port: listen port (0 = any free port, for embedding in tests).
        broker_channel_expired_seconds: a broker not heard from for this long is removed.
        scan_not_active_broker_interval: seconds between expiry scans.
        order_message_enable: put ``ORDER_TOPIC_CONFIG`` KV entries into routes (``orderTopicConf``).
        kv_config_path: JSON file for the KV config; ``None`` keeps it in memory.
        product_env_name: reported by GET_NAMESRV_CONFIG only.
        cluster_test: reported by GET_NAMESRV_CONFIG only.
        channel_max_idle_seconds: close connections idle this long (0 disables).
        config_black_list: ``;``-separated keys UPDATE_NAMESRV_CONFIG refuses.
    """

    host: str = "127.0.0.1"
    port: int = 9876
    broker_channel_expired_seconds: float = 120.0
    scan_not_active_broker_interval: float = 10.0
    order_message_enable: bool = False
    kv_config_path: str | None = None
    product_env_name: str = "center"
    cluster_test: bool = False
    channel_max_idle_seconds: float = 120.0
    config_black_list: str = DEFAULT_CONFIG_BLACK_LIST

    @classmethod
    def from_properties(cls, props: Mapping[str, str], base: NamesrvConfig | None = None) -> NamesrvConfig:
        """Apply Apache-named properties over ``base`` (default: the defaults)."""
        return (base or cls()).with_properties(props)

    @classmethod
    def from_file(cls, path: str | Path, base: NamesrvConfig | None = None) -> NamesrvConfig:
        return cls.from_properties(parse_properties(Path(path).read_text(encoding="utf-8")), base)

    @classmethod
    def from_file_checked(
        cls, path: str | Path, base: NamesrvConfig | None = None
    ) -> tuple[NamesrvConfig, dict[str, str | None]]:
        """Read a ``-c`` file strictly; returns the config and ``{unknown key: closest known key}``.

        Raises:
            ConfigError: the file cannot be read, or a value does not parse (naming key and type).
        """
        try:
            props = parse_properties(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        changes: dict[str, Any] = {}
        unknown: dict[str, str | None] = {}
        for key, value in props.items():
            spec = _KEYS.get(key)
            if spec is None:
                unknown[key] = did_you_mean(key, _KEYS)
                continue
            name, parser = spec
            parser = {_bool: _strict_bool, int: _port if key == "listenPort" else int}.get(parser, parser)
            try:
                changes[name] = parser(value)
            except ValueError as exc:
                expects = _EXPECTS.get(parser)
                detail = f"expected {expects}" if expects else str(exc)
                raise ConfigError(f"invalid value {value!r} for {key}: {detail}") from None
        return dataclasses.replace(base or cls(), **changes), unknown

    def with_properties(self, props: Mapping[str, str]) -> NamesrvConfig:
        """A copy with the known keys of ``props`` applied (bad values keep the current value)."""
        changes: dict[str, Any] = {}
        for key, value in props.items():
            spec = _KEYS.get(key)
            if spec is None:
                continue
            name, parser = spec
            try:
                changes[name] = parser(value)
            except ValueError:
                continue
        return dataclasses.replace(self, **changes)

    def black_listed(self, keys: Mapping[str, str]) -> list[str]:
        """The keys of ``keys`` that UPDATE_NAMESRV_CONFIG must refuse."""
        black = {k for k in self.config_black_list.split(";") if k} | {"configBlackList"}
        return sorted(k for k in keys if k in black)

    def to_properties(self) -> str:
        """``k=v`` lines with Apache key names (GET_NAMESRV_CONFIG body)."""
        lines = []
        for key, (name, _parser) in sorted(_KEYS.items()):
            value = getattr(self, name)
            if value is None:
                value = ""
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif key in ("scanNotActiveBrokerInterval", "brokerChannelExpiredTime"):
                value = str(int(value * 1000))
            elif isinstance(value, float) and value.is_integer():
                value = str(int(value))
            lines.append(f"{key}={value}")
        return "\n".join(lines) + "\n"

    def remoting(self) -> RemotingConfig:
        """The remoting server settings derived from this config."""
        return RemotingConfig(
            host=self.host, port=self.port, channel_max_idle_seconds=self.channel_max_idle_seconds
        )
