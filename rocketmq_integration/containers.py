"""The dependency-injector composition root of the framework layer (the only place objects are wired).

``RocketMQContainer.config`` takes the ``settings.ROCKETMQ``-shaped dict (lower-case keys here)::

    container = RocketMQContainer()
    container.config.from_dict({
        "name_server": "127.0.0.1:9876",
        "producer": {"group": "orders", "send_message_timeout": 3.0},
        "templates": {"audit": {"name_server": "10.0.0.5:9876", "producer": {"group": "audit"}}},
        "converter": "default",
        "consumer": {"listeners": {"billing": {"orders": False}}},   # switch a listener off
    })
    template = container.template()              # the default RocketMQTemplate (singleton)
    audit = container.templates().get("audit")   # a named template for another cluster
    runner = container.listener_runner()         # runs every enabled registered listener

Nothing here opens a socket at import or construction: templates start their producer on first
send, runners start consumers on ``start()``. :func:`get_template` is a plain accessor for code
that does not use dependency-injector wiring; ``provider.override(...)`` swaps in fakes in tests.
After ``fork`` call ``container.reset_singletons()`` in the child (templates are fork-safe anyway).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from dependency_injector import containers, providers

from rocketmq_integration.client.config import ClientConfig, ProducerConfig
from rocketmq_integration.converters import get_converter
from rocketmq_integration.errors import TemplateNotConfiguredError
from rocketmq_integration.idempotency import InMemoryIdempotencyStore
from rocketmq_integration.listeners.builtin import MetricsMiddleware
from rocketmq_integration.listeners.registry import default_registry
from rocketmq_integration.listeners.runner import ListenerRunner
from rocketmq_integration.template import RocketMQTemplate

__all__ = ["RocketMQContainer", "TemplateRegistry", "container", "get_template"]

DEFAULT_NAMESRV = "127.0.0.1:9876"


def _producer_config(options: Mapping[str, Any] | None) -> ProducerConfig:
    o = dict(options or {})
    return ProducerConfig(
        group=o.get("group", "rocketmq_template"),
        send_msg_timeout=float(o.get("send_message_timeout", 3.0)),
        retry_times_when_send_failed=int(o.get("retry_times_when_send_failed", 2)),
        compress_msg_body_over_howmuch=int(o.get("compress_message_body_threshold", 4096)),
        max_message_size=int(o.get("max_message_size", 4 * 1024 * 1024)),
        enable_msg_trace=bool(o.get("enable_msg_trace", False)),
        customized_trace_topic=str(o.get("customized_trace_topic") or ""),
    )


def client_config(
    name_server: str | None, producer: Mapping[str, Any] | None = None, namespace: str | None = None
) -> ClientConfig:
    """Connection settings: the NameServer, the namespace, and the producer section's ACL
    credentials and instance name (used by the template and by the listener runner alike)."""
    o = dict(producer or {})
    options: dict[str, Any] = {
        "namesrv_addr": name_server or DEFAULT_NAMESRV,
        "namespace": namespace or "",
        "access_key": o.get("access_key") or "",
        "secret_key": o.get("secret_key") or "",
    }
    if o.get("instance_name"):
        options["instance_name"] = o["instance_name"]
    return ClientConfig(**options)


def build_template(
    name: str,
    name_server: str | None,
    producer: Mapping[str, Any] | None,
    converter: Any,
    namespace: str | None = None,
) -> RocketMQTemplate:
    """A template from settings-shaped values."""
    pc = _producer_config(producer)
    return RocketMQTemplate(
        pc.group,
        namesrv_addr=name_server or DEFAULT_NAMESRV,
        client_config=client_config(name_server, producer, namespace),
        producer_config=pc,
        converter=converter,
        send_timeout=pc.send_msg_timeout,
        name=name,
    )


class TemplateRegistry:
    """Named templates (rocketmq-spring's ``@ExtRocketMQTemplateConfiguration``), built on first use."""

    def __init__(
        self,
        default: RocketMQTemplate,
        settings: Mapping[str, Any] | None,
        converter: Any,
        name_server: str | None,
        namespace: str | None = None,
    ) -> None:
        self._templates: dict[str, RocketMQTemplate] = {"default": default}
        self._namespace = namespace
        self._settings = dict(settings or {})
        self._converter = converter
        self._name_server = name_server
        self._lock = threading.Lock()

    def get(self, name: str = "default") -> RocketMQTemplate:
        """The template called ``name``.

        Raises:
            TemplateNotConfiguredError: (a KeyError) ``name`` is not under ``templates``.
        """
        with self._lock:
            if name not in self._templates:
                opts = self._settings.get(name)
                if opts is None:
                    raise TemplateNotConfiguredError(name, sorted({"default", *self._settings}))
                self._templates[name] = build_template(
                    name, opts.get("name_server") or self._name_server, opts.get("producer"), self._converter,
                    self._namespace,
                )  # fmt: skip
            return self._templates[name]

    def close(self) -> None:
        """Close every template that was built."""
        with self._lock:
            templates = list(self._templates.values())
        for t in templates:
            t.close()


class RocketMQContainer(containers.DeclarativeContainer):
    """Providers of the framework layer; see the module docstring."""

    config = providers.Configuration(default={"converter": "default", "name_server": DEFAULT_NAMESRV})

    converter = providers.Singleton(get_converter, config.converter)
    template = providers.Singleton(
        build_template, "default", config.name_server, config.producer, converter, config.namespace
    )
    templates = providers.Singleton(
        TemplateRegistry, template, config.templates, converter, config.name_server, config.namespace
    )
    idempotency_store = providers.Singleton(InMemoryIdempotencyStore)
    metrics = providers.Singleton(MetricsMiddleware)
    listener_registry = providers.Object(default_registry)
    listener_runner = providers.Factory(
        ListenerRunner,
        listener_registry,
        namesrv_addr=config.name_server,
        client_config=providers.Factory(client_config, config.name_server, config.producer, config.namespace),
        converter=converter,
        middlewares=providers.List(metrics),
        idempotency_store=idempotency_store,
        toggles=config.consumer.listeners,
    )


#: the process-wide container (the Django app feeds ``settings.ROCKETMQ`` into ``container.config``)
container = RocketMQContainer()


def get_template(name: str = "default") -> RocketMQTemplate:
    """The configured template ``name`` of the process-wide container."""
    registry: TemplateRegistry = container.templates()
    return registry.get(name)
