"""System checks for ``settings.ROCKETMQ`` and the declared listeners (tag ``rocketmq``).

Ids are stable (django-axes style); tests and users may silence them with
``SILENCED_SYSTEM_CHECKS``:

============== ============================================================================
id             fires when
============== ============================================================================
rocketmq.E001  ``ROCKETMQ`` (or one of its sections) is not a dict / a value has the wrong type
rocketmq.E002  a name-server address is malformed (``host:port[;host:port]``) or missing
rocketmq.E003  a producer group, consumer group or topic name breaks RocketMQ's name rules
rocketmq.E004  ``CONVERTER`` is neither a built-in converter name nor an importable path
rocketmq.E005  a listener module failed to import (bad ``@rocketmq_listener`` declaration …)
rocketmq.E006  two listeners of one consumer group subscribe differently (silent message loss)
rocketmq.E007  a number is out of range (timeouts, ports, batch sizes, TTLs)
rocketmq.E008  ``IDEMPOTENCY.BACKEND`` is unknown, or ``redis`` without a ``URL``
rocketmq.E009  a ``DATABASE`` alias (``OUTBOX``, ``TRANSACTIONS``, ``IDEMPOTENCY``) is not in DATABASES
rocketmq.E010  (deploy) the name server does not answer
rocketmq.E011  an import the settings ask for failed: a ``WIRE_MODULES`` module, or the kombu
               transport for a ``rocketmq://`` ``CELERY_BROKER_URL`` (is the ``celery`` extra installed?)
rocketmq.W001  an unknown key (probably a typo; the message suggests the closest known key)
rocketmq.W002  ``CONSUMER.LISTENERS`` switches off a group/topic that no listener uses
rocketmq.W003  (deploy) the embedded broker is enabled while ``DEBUG`` is False
rocketmq.W004  credentials are half configured (``ACCESS_KEY`` without ``SECRET_KEY`` or back)
============== ============================================================================
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from broker_core.message.names import validate_group, validate_topic
from rocketmq_integration.django.conf import (
    DEFAULTS,
    NAMED_SECTIONS,
    PRODUCER_DEFAULTS,
    SETTING_NAME,
    get_config,
    resolve_converter,
    user_settings,
)
from rocketmq_integration.errors import SubscriptionConflictError

__all__ = ["TAG", "check_listeners", "check_name_server_reachable", "check_settings", "parse_name_server"]

TAG = "rocketmq"
IDEMPOTENCY_BACKENDS = ("memory", "db", "redis")

# (section, key) -> (min, max or None, allow zero?) for numbers
_NUMBERS: dict[tuple[str, ...], tuple[float, float | None]] = {
    ("PRODUCER", "SEND_MESSAGE_TIMEOUT"): (0.001, None),
    ("PRODUCER", "RETRY_TIMES_WHEN_SEND_FAILED"): (0, 100),
    ("PRODUCER", "RETRY_TIMES_WHEN_SEND_ASYNC_FAILED"): (0, 100),
    ("PRODUCER", "COMPRESS_MESSAGE_BODY_THRESHOLD"): (0, None),
    ("PRODUCER", "MAX_MESSAGE_SIZE"): (1, None),
    ("EMBEDDED", "NAMESRV_PORT"): (0, 65535),
    ("EMBEDDED", "BROKER_PORT"): (0, 65535),
    ("OUTBOX", "BATCH_SIZE"): (1, 100_000),
    ("OUTBOX", "POLL_INTERVAL"): (0.001, None),
    ("OUTBOX", "LEASE"): (0.1, None),
    ("IDEMPOTENCY", "TTL"): (0.001, None),
    ("IDEMPOTENCY", "PROCESSING_TTL"): (0.001, None),
}


def _where(*path: str) -> str:
    return SETTING_NAME + "".join(f"[{p!r}]" for p in path)


def parse_name_server(value: Any) -> list[tuple[str, int]]:
    """``host:port`` pairs of a ``;``/``,`` separated address list.

    Raises:
        ValueError: empty, or an entry that is not ``host:port`` with a port in 1..65535.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is empty")
    out = []
    for entry in value.replace(",", ";").split(";"):
        entry = entry.strip()
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or " " in host:
            raise ValueError(f"entry {entry!r} is not host:port")
        out.append((host, int(port)))
    if not out:
        raise ValueError("is empty")
    return out


def _unknown_keys(section: Mapping[str, Any], known: Sequence[str], *path: str) -> list[CheckMessage]:
    out: list[CheckMessage] = []
    for key in section:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key).upper(), known, n=1)
        hint = f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(sorted(known))}."
        out.append(Warning(f"Unknown key {key!r} in {_where(*path)}.", hint=hint, id="rocketmq.W001"))
    return out


def _check_shape(raw: Any) -> list[CheckMessage]:
    """E001 (types), W001 (unknown keys)."""
    if not isinstance(raw, Mapping):
        return [
            Error(
                f"{SETTING_NAME} must be a dict, not {type(raw).__name__}.",
                hint="ROCKETMQ = {'NAME_SERVER': '127.0.0.1:9876', ...}",
                id="rocketmq.E001",
            )
        ]
    out = _unknown_keys(raw, list(DEFAULTS))
    for key, value in raw.items():
        default = DEFAULTS.get(key)
        if default is None:
            continue
        expected: type | tuple[type, ...] = type(default)
        if isinstance(default, dict):
            expected = Mapping
        elif isinstance(default, list):
            expected = (list, tuple)
        elif isinstance(default, bool):
            expected = bool
        if not isinstance(value, expected):
            out.append(
                Error(
                    f"{_where(key)} must be a {type(default).__name__}, not {type(value).__name__}.",
                    id="rocketmq.E001",
                )
            )
            continue
        if isinstance(default, dict) and isinstance(value, Mapping) and default and key not in NAMED_SECTIONS:
            out += _unknown_keys(value, list(default), key)
    for name, opts in (
        (raw.get("TEMPLATES") or {}).items() if isinstance(raw.get("TEMPLATES"), Mapping) else ()
    ):
        if not isinstance(opts, Mapping):
            out.append(Error(f"{_where('TEMPLATES', name)} must be a dict.", id="rocketmq.E001"))
            continue
        out += _unknown_keys(opts, ["NAME_SERVER", "PRODUCER"], "TEMPLATES", name)
        producer = opts.get("PRODUCER", {})
        if not isinstance(producer, Mapping):
            out.append(Error(f"{_where('TEMPLATES', name, 'PRODUCER')} must be a dict.", id="rocketmq.E001"))
        else:
            out += _unknown_keys(producer, list(PRODUCER_DEFAULTS), "TEMPLATES", name, "PRODUCER")
    listener_modules = raw.get("LISTENER_MODULES", [])
    if isinstance(listener_modules, list | tuple) and not all(isinstance(m, str) for m in listener_modules):
        out.append(Error(f"{_where('LISTENER_MODULES')} must list module names.", id="rocketmq.E001"))
    return out


def _check_name_servers(cfg: Mapping[str, Any]) -> list[CheckMessage]:
    """E002."""
    out: list[CheckMessage] = []
    addresses: list[tuple[tuple[str, ...], Any]] = [(("NAME_SERVER",), cfg["NAME_SERVER"])]
    for name, opts in cfg["TEMPLATES"].items():
        if isinstance(opts, Mapping) and "NAME_SERVER" in opts:
            addresses.append((("TEMPLATES", name, "NAME_SERVER"), opts["NAME_SERVER"]))
    for path, value in addresses:
        try:
            parse_name_server(value)
        except ValueError as exc:
            out.append(
                Error(
                    f"{_where(*path)} = {value!r}: {exc}.",
                    hint="Use 'host:port', several separated by ';' (e.g. '10.0.0.1:9876;10.0.0.2:9876').",
                    id="rocketmq.E002",
                )
            )
    return out


def _check_names(cfg: Mapping[str, Any]) -> list[CheckMessage]:
    """E003 (names), W004 (half credentials)."""
    out: list[CheckMessage] = []
    producers: list[tuple[tuple[str, ...], Any]] = [(("PRODUCER",), cfg["PRODUCER"])]
    for name, opts in cfg["TEMPLATES"].items():
        if isinstance(opts, Mapping) and isinstance(opts.get("PRODUCER"), Mapping):
            producers.append((("TEMPLATES", name, "PRODUCER"), opts["PRODUCER"]))
    for path, producer in producers:
        if "GROUP" in producer:
            why = validate_group(producer["GROUP"] if isinstance(producer["GROUP"], str) else None)
            if why is not None:
                out.append(Error(f"{_where(*path, 'GROUP')}: {why}", id="rocketmq.E003"))
        if bool(producer.get("ACCESS_KEY")) != bool(producer.get("SECRET_KEY")):
            out.append(
                Warning(
                    f"{_where(*path)} sets only one of ACCESS_KEY and SECRET_KEY.",
                    hint="ACL needs both; set both or neither.",
                    id="rocketmq.W004",
                )
            )
    toggles = cfg["CONSUMER"].get("LISTENERS")
    if not isinstance(toggles, Mapping):
        out.append(Error(f"{_where('CONSUMER', 'LISTENERS')} must be a dict.", id="rocketmq.E001"))
        return out
    for group, topics in toggles.items():
        why = validate_group(group if isinstance(group, str) else None)
        if why is not None:
            out.append(Error(f"{_where('CONSUMER', 'LISTENERS', str(group))}: {why}", id="rocketmq.E003"))
        if not isinstance(topics, Mapping):
            out.append(
                Error(
                    f"{_where('CONSUMER', 'LISTENERS', str(group))} must map topic names to True/False.",
                    id="rocketmq.E001",
                )
            )
            continue
        for topic, on in topics.items():
            why = validate_topic(topic if isinstance(topic, str) else None)
            if why is not None:
                out.append(
                    Error(
                        f"{_where('CONSUMER', 'LISTENERS', str(group), str(topic))}: {why}",
                        id="rocketmq.E003",
                    )
                )
            if not isinstance(on, bool):
                out.append(
                    Error(
                        f"{_where('CONSUMER', 'LISTENERS', str(group), str(topic))} must be True or False.",
                        id="rocketmq.E001",
                    )
                )
    return out


def _check_values(cfg: Mapping[str, Any]) -> list[CheckMessage]:
    """E004, E007, E008, E009."""
    out: list[CheckMessage] = []
    try:
        resolve_converter(cfg["CONVERTER"])
    except ValueError as exc:
        out.append(Error(f"{_where('CONVERTER')}: {exc}.", id="rocketmq.E004"))
    for path, (low, high) in _NUMBERS.items():
        value = cfg[path[0]].get(path[1])
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and (value < low or (high is not None and value > high)):
            ok = False
        if not ok:
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            out.append(Error(f"{_where(*path)} = {value!r}: must be a number {bound}.", id="rocketmq.E007"))
    idem = cfg["IDEMPOTENCY"]
    if idem.get("BACKEND") not in IDEMPOTENCY_BACKENDS:
        out.append(
            Error(
                f"{_where('IDEMPOTENCY', 'BACKEND')} = {idem.get('BACKEND')!r}: "
                f"must be one of {', '.join(IDEMPOTENCY_BACKENDS)}.",
                id="rocketmq.E008",
            )
        )
    elif idem["BACKEND"] == "redis" and not idem.get("URL"):
        out.append(
            Error(
                f"{_where('IDEMPOTENCY', 'URL')} is required with BACKEND 'redis'.",
                hint="e.g. 'redis://127.0.0.1:6379/0'",
                id="rocketmq.E008",
            )
        )
    databases = getattr(settings, "DATABASES", {})
    for section in ("OUTBOX", "TRANSACTIONS", "IDEMPOTENCY"):
        alias = cfg[section].get("DATABASE")
        if alias not in databases:
            out.append(
                Error(
                    f"{_where(section, 'DATABASE')} = {alias!r} is not a key of DATABASES.",
                    id="rocketmq.E009",
                )
            )
    return out


@register(TAG)
def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Every settings check (E001–E004, E007–E009, W001, W004)."""
    raw = user_settings()
    out = _check_shape(raw)
    if not isinstance(raw, Mapping):
        return out
    cfg = get_config()
    return out + _check_name_servers(cfg) + _check_names(cfg) + _check_values(cfg)


@register(TAG)
def check_listeners(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """E005/E006 from listener discovery, W002 for switches that match no listener."""
    from rocketmq_integration.django.discovery import discovery_errors, startup_errors
    from rocketmq_integration.listeners.registry import default_registry

    out: list[CheckMessage] = []
    for failure in discovery_errors():
        conflict = isinstance(failure.error, SubscriptionConflictError)
        out.append(
            Error(
                f"{failure.module}: {type(failure.error).__name__}: {failure.error}",
                hint=(
                    "All listeners of one consumer group must subscribe to the same topic with the same "
                    "selector and mode; give the other listener its own consumer_group."
                    if conflict
                    else "Fix the listener declaration; the module is not imported until then."
                ),
                obj=failure.module,
                id="rocketmq.E006" if conflict else "rocketmq.E005",
            )
        )
    for failure in startup_errors():
        out.append(
            Error(
                f"cannot import {failure.module}: {type(failure.error).__name__}: {failure.error}",
                hint="Install the missing package (pip install 'rocketmq-python[celery]') or fix WIRE_MODULES.",
                obj=failure.module,
                id="rocketmq.E011",
            )
        )
    toggles = get_config()["CONSUMER"].get("LISTENERS")
    if isinstance(toggles, Mapping):
        used = {(s.consumer_group, s.topic) for s in default_registry.all()}
        for group, topics in toggles.items():
            for topic in topics if isinstance(topics, Mapping) else ():
                if (group, topic) not in used:
                    out.append(
                        Warning(
                            f"{_where('CONSUMER', 'LISTENERS', str(group), str(topic))} matches no listener.",
                            hint="Check the consumer group and topic names of the listener to switch.",
                            id="rocketmq.W002",
                        )
                    )
    return out


@register(TAG, deploy=True)
def check_deploy(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """W003: the embedded broker is for development only."""
    cfg = get_config()
    if cfg["EMBEDDED"].get("ENABLED") and not settings.DEBUG:
        return [
            Warning(
                f"{_where('EMBEDDED', 'ENABLED')} is True while DEBUG is False.",
                hint="The embedded broker is for development; point NAME_SERVER at a real cluster.",
                id="rocketmq.W003",
            )
        ]
    return []


@register(TAG, deploy=True)
def check_name_server_reachable(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E010: ask each configured name server for the cluster list (2 s timeout each)."""
    from rocketmq_integration.django.probe import probe_name_server

    cfg = get_config()
    try:
        addrs = parse_name_server(cfg["NAME_SERVER"])
    except ValueError:
        return []  # E002 already says so
    why = probe_name_server(";".join(f"{h}:{p}" for h, p in addrs), timeout=2.0)
    if why is None:
        return []
    return [
        Error(
            f"{_where('NAME_SERVER')} = {cfg['NAME_SERVER']!r} does not answer: {why}",
            hint="Start the name server (manage.py rocketmq_namesrv) or fix the address.",
            id="rocketmq.E010",
        )
    ]
