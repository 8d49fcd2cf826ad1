"""``settings.ROCKETMQ``: defaults, lazy cached resolution, and the DI container fed from it.

Read lazily, the way django-debug-toolbar reads ``DEBUG_TOOLBAR_CONFIG``: nothing is read at
import, :func:`get_config` resolves the dict on first use and caches it, and the
``setting_changed`` signal (``override_settings``, pytest-django's ``settings`` fixture) drops the
cache and re-configures the container. Resolution never raises: a malformed value keeps its
default here and is reported by the system checks (``rocketmq.E001`` …) instead of a traceback at
import.

Keys (upper case, like every Django setting; nested sections are dicts)::

    NAME_SERVER            "127.0.0.1:9876"  (';' or ',' separated host:port list)
    ACCESS_CHANNEL         "LOCAL"
    NAMESPACE              ""
    PRODUCER               {GROUP, SEND_MESSAGE_TIMEOUT, RETRY_TIMES_WHEN_SEND_FAILED,
                            RETRY_TIMES_WHEN_SEND_ASYNC_FAILED, RETRY_NEXT_SERVER,
                            COMPRESS_MESSAGE_BODY_THRESHOLD, MAX_MESSAGE_SIZE, ACCESS_KEY, SECRET_KEY,
                            ENABLE_MSG_TRACE, CUSTOMIZED_TRACE_TOPIC, TLS_ENABLE, INSTANCE_NAME}
    TEMPLATES              {"<name>": {"NAME_SERVER": ..., "PRODUCER": {...}}}   extra clusters
    CONSUMER               {"LISTENERS": {"<group>": {"<topic>": False}}}        switch listeners off
    LISTENER_MODULES       ["listeners"]     module imported from every installed app
    CONVERTER              "default" | "json" | "str" | "bytes" | "dotted.path.to.Converter"
    EMBEDDED               {ENABLED, HOST, NAMESRV_PORT, BROKER_PORT, STORE_DIR}: what rocketmq_dev /
                           rocketmq_broker start; ENABLED makes HOST:NAMESRV_PORT the default NAME_SERVER
    OUTBOX                 {DATABASE, TEMPLATE, BATCH_SIZE, POLL_INTERVAL, LEASE}
    TRANSACTIONS           {DATABASE}
    IDEMPOTENCY            {BACKEND: "memory" | "db" | "redis", URL, TTL, PROCESSING_TTL, DATABASE}
    LOGGING                {CONFIGURE_STRUCTLOG}
    WIRE_MODULES           []                modules to ``container.wire`` (opt-in ``Provide[...]``)
"""

from __future__ import annotations

import copy
import importlib
import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

__all__ = [
    "DEFAULTS",
    "SETTING_NAME",
    "RocketMQSettings",
    "configured_container",
    "container_config",
    "get_config",
    "import_string_or_none",
    "reset",
]

SETTING_NAME = "ROCKETMQ"

#: The resolved settings: a plain dict shaped like :data:`DEFAULTS`.
RocketMQSettings = dict[str, Any]

PRODUCER_DEFAULTS: dict[str, Any] = {
    "GROUP": "rocketmq_template",
    "SEND_MESSAGE_TIMEOUT": 3.0,
    "RETRY_TIMES_WHEN_SEND_FAILED": 2,
    "RETRY_TIMES_WHEN_SEND_ASYNC_FAILED": 2,
    "RETRY_NEXT_SERVER": False,
    "COMPRESS_MESSAGE_BODY_THRESHOLD": 4096,
    "MAX_MESSAGE_SIZE": 4 * 1024 * 1024,
    "ACCESS_KEY": "",
    "SECRET_KEY": "",
    "ENABLE_MSG_TRACE": False,
    "CUSTOMIZED_TRACE_TOPIC": "",
    "TLS_ENABLE": False,
    "INSTANCE_NAME": "",
}

DEFAULTS: dict[str, Any] = {
    "NAME_SERVER": "127.0.0.1:9876",
    "ACCESS_CHANNEL": "LOCAL",
    "NAMESPACE": "",
    "PRODUCER": PRODUCER_DEFAULTS,
    "TEMPLATES": {},
    "CONSUMER": {"LISTENERS": {}},
    "LISTENER_MODULES": ["listeners"],
    "CONVERTER": "default",
    "EMBEDDED": {
        "ENABLED": False,
        "HOST": "127.0.0.1",
        "NAMESRV_PORT": 9876,
        "BROKER_PORT": 10911,
        "STORE_DIR": "",
    },
    "OUTBOX": {
        "DATABASE": "default",
        "TEMPLATE": "default",
        "BATCH_SIZE": 100,
        "POLL_INTERVAL": 1.0,
        "LEASE": 30.0,
    },
    "TRANSACTIONS": {"DATABASE": "default"},
    "IDEMPOTENCY": {
        "BACKEND": "memory",
        "URL": "",
        "TTL": 86400.0,
        "PROCESSING_TTL": 900.0,
        "DATABASE": "default",
    },
    "LOGGING": {"CONFIGURE_STRUCTLOG": False},
    "WIRE_MODULES": [],
}

#: sections whose keys are user-chosen names (not settings keys), so never merged key by key
NAMED_SECTIONS = frozenset({"TEMPLATES"})

_lock = threading.RLock()
_cache: RocketMQSettings | None = None
_container_generation = -1
_generation = 0


def user_settings() -> Any:
    """The raw ``settings.ROCKETMQ`` (``{}`` when unset); may be anything the user wrote."""
    return getattr(settings, SETTING_NAME, {})


def _merge(defaults: Mapping[str, Any], user: Any) -> dict[str, Any]:
    """``defaults`` overlaid with ``user``; values of the wrong shape keep the default."""
    out = copy.deepcopy(dict(defaults))
    if not isinstance(user, Mapping):
        return out
    for key, value in user.items():
        default = defaults.get(key)
        if isinstance(default, dict) and key not in NAMED_SECTIONS and default:
            out[key] = _merge(default, value) if isinstance(value, Mapping) else out[key]
        elif isinstance(default, dict) and not isinstance(value, Mapping):
            continue
        elif isinstance(default, list) and not isinstance(value, list | tuple):
            continue
        else:
            out[key] = copy.deepcopy(value) if isinstance(value, Mapping | list) else value
    return out


def get_config() -> RocketMQSettings:
    """The resolved ``settings.ROCKETMQ``: :data:`DEFAULTS` overlaid with the user's dict.

    Cached until ``setting_changed`` names ``ROCKETMQ``; never raises (see the module docstring).
    Callers must not mutate the result.
    """
    global _cache
    cached = _cache
    if cached is not None:
        return cached
    with _lock:
        if _cache is None:
            raw = user_settings()
            cfg = _merge(DEFAULTS, raw)
            embedded = cfg["EMBEDDED"]
            if embedded.get("ENABLED") and not (isinstance(raw, Mapping) and "NAME_SERVER" in raw):
                cfg["NAME_SERVER"] = f"{embedded['HOST']}:{embedded['NAMESRV_PORT']}"
            _cache = cfg
        return _cache


def reset() -> None:
    """Drop the cached settings; the container is re-configured on its next use.

    Templates built from the old settings are closed (their producers shut down).
    """
    global _cache, _generation
    with _lock:
        _cache = None
        _generation += 1
    _close_built_templates()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        reset()


def import_string_or_none(path: str) -> Any:
    """The object at dotted ``path`` (``a.b.C`` or ``a.b:C``), or None when it does not import."""
    module, sep, attr = path.partition(":")
    if not sep:
        module, _, attr = path.rpartition(".")
    if not module or not attr:
        return None
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def resolve_converter(spec: Any) -> Any:
    """A converter name the container understands, or an instance built from a dotted path.

    Raises:
        ValueError: ``spec`` is neither a known name nor an importable path (``rocketmq.E004``).
    """
    from rocketmq_integration.converters import _NAMED

    if not isinstance(spec, str) or spec in _NAMED:
        return spec
    obj = import_string_or_none(spec)
    if obj is None:
        raise ValueError(f"unknown converter {spec!r}: not one of {sorted(_NAMED)} nor an importable path")
    return obj() if isinstance(obj, type) else obj


def _lower(section: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in section.items()}


def container_config(cfg: RocketMQSettings | None = None) -> dict[str, Any]:
    """``cfg`` (default: :func:`get_config`) in the lower-case shape of ``RocketMQContainer.config``."""
    cfg = get_config() if cfg is None else cfg
    templates = {}
    for name, opts in cfg["TEMPLATES"].items():
        if isinstance(opts, Mapping):
            producer = opts.get("PRODUCER")
            templates[str(name)] = {
                "name_server": opts.get("NAME_SERVER") or cfg["NAME_SERVER"],
                "producer": _lower(_merge(PRODUCER_DEFAULTS, producer)),
            }
    try:
        converter = resolve_converter(cfg["CONVERTER"])
    except ValueError:
        converter = "default"  # reported by rocketmq.E004
    toggles = cfg["CONSUMER"].get("LISTENERS") or {}
    return {
        "name_server": cfg["NAME_SERVER"],
        "producer": _lower(cfg["PRODUCER"]),
        "templates": templates,
        "converter": converter,
        "namespace": cfg["NAMESPACE"] if isinstance(cfg["NAMESPACE"], str) else "",
        "consumer": {"listeners": toggles if isinstance(toggles, Mapping) else {}},
    }


_built: list[Any] = []  # template registries handed out since the last reset


def _idempotency_provider(cfg: RocketMQSettings) -> Any:
    from dependency_injector import providers

    from rocketmq_integration.idempotency import InMemoryIdempotencyStore, RedisIdempotencyStore

    opts = cfg["IDEMPOTENCY"]
    backend = opts.get("BACKEND", "memory")
    ttl, processing_ttl = float(opts.get("TTL", 86400.0)), float(opts.get("PROCESSING_TTL", 900.0))
    if backend == "db":
        from rocketmq_integration.django.idempotency import DjangoIdempotencyStore

        return providers.Singleton(
            DjangoIdempotencyStore,
            using=opts.get("DATABASE", "default"),
            ttl=ttl,
            processing_ttl=processing_ttl,
        )
    if backend == "redis":
        return providers.Singleton(
            RedisIdempotencyStore, opts.get("URL") or "redis://127.0.0.1:6379/0", ttl=ttl,
            processing_ttl=processing_ttl,
        )  # fmt: skip
    return providers.Singleton(InMemoryIdempotencyStore, ttl=ttl, processing_ttl=processing_ttl)


def configured_container() -> Any:
    """The process-wide ``RocketMQContainer``, configured from the current settings.

    Re-configured (singletons reset) after every :func:`reset`; building it opens no socket.
    """
    global _container_generation
    from rocketmq_integration.containers import container

    with _lock:
        if _container_generation != _generation:
            cfg = get_config()
            container.reset_singletons()
            container.config.reset_override()
            container.config.override(container_config(cfg))  # replaces, where from_dict would merge
            container.idempotency_store.reset_override()
            container.idempotency_store.override(_idempotency_provider(cfg))
            _container_generation = _generation
        if not _built:
            _built.append(container.templates)
    return container


def _close_built_templates() -> None:
    with _lock:
        built, _built[:] = list(_built), []
    for provider in built:
        try:
            provider().close()
        except Exception:  # a template that failed to build has nothing to close
            pass
