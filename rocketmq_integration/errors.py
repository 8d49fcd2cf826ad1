"""Exception hierarchy of ``rocketmq_integration`` (one base: :class:`RocketMQIntegrationError`).

Expected outcomes (a send stored with FLUSH_DISK_TIMEOUT, a pull that found nothing) are enums in
result dataclasses. Exceptions are for failures the caller must handle:

* :class:`ValidationError` — the caller passed something the protocol cannot carry (bad topic or
  group name, empty or oversized body). Raised before anything goes on the wire.
* :class:`MQClientError` — the client cannot do what was asked (not started, no route for a topic,
  every retry used up).
* :class:`MQBrokerError` — a broker or NameServer answered with an error ``code`` and ``remark``.
* :class:`RemotingError` — the network failed (connect, timeout, closed); wraps the
  ``broker_core`` remoting exception as ``__cause__`` so that backend-specific exceptions never
  cross this package's interface.
"""

from __future__ import annotations

__all__ = [
    "ClientError",
    "ConversionError",
    "ListenerConfigError",
    "MQBrokerError",
    "MQClientError",
    "NoRouteError",
    "RemotingConnectError",
    "RemotingError",
    "RemotingTimeoutError",
    "RocketMQIntegrationError",
    "TemplateNotConfiguredError",
    "UnsupportedFeatureError",
    "SubscriptionConflictError",
    "ValidationError",
]


class RocketMQIntegrationError(Exception):
    """Base of every exception raised by ``rocketmq_integration``."""


class ClientError(RocketMQIntegrationError):
    """A producer, consumer or admin operation failed."""


class ValidationError(ClientError, ValueError):
    """An argument breaks a protocol rule (names, body size, batch rules)."""


class MQClientError(ClientError):
    """A client-side failure: wrong state, no route, retries exhausted."""


class NoRouteError(MQClientError):
    """No NameServer knows a route for ``topic``."""

    def __init__(self, topic: str, detail: str = "") -> None:
        super().__init__(f"no route info for topic {topic!r}" + (f": {detail}" if detail else ""))
        self.topic = topic


class MQBrokerError(ClientError):
    """A server answered a request with an error code.

    Attributes:
        code: the ResponseCode number.
        remark: the server's reason text (may be empty).
        addr: the server address that answered (may be empty).
    """

    def __init__(self, code: int, remark: str | None, addr: str = "") -> None:
        where = f" from {addr}" if addr else ""
        super().__init__(f"CODE: {code} DESC: {remark or ''}{where}")
        self.code = code
        self.remark = remark or ""
        self.addr = addr


class RemotingError(ClientError):
    """A request failed on the network; the original exception is ``__cause__``."""

    def __init__(self, message: str, addr: str = "") -> None:
        super().__init__(message)
        self.addr = addr


class RemotingConnectError(RemotingError):
    """Could not connect to ``addr``."""


class RemotingTimeoutError(RemotingError):
    """No response within the timeout."""


class ConversionError(RocketMQIntegrationError):
    """A payload could not be converted to or from message bytes."""


class ListenerConfigError(RocketMQIntegrationError):
    """A listener declaration is invalid."""


class SubscriptionConflictError(ListenerConfigError):
    """Two listeners of one consumer group subscribe differently (RocketMQ would silently lose
    messages: each member filters by its own subscription while the queues are shared)."""


class TemplateNotConfiguredError(RocketMQIntegrationError, KeyError):
    """``get_template(name)`` for a name that the ``templates`` settings do not define (a KeyError)."""

    def __init__(self, name: str, configured: list[str]) -> None:
        super().__init__(name)
        self.name = name
        example = '{"templates": {"%s": {"name_server": "host:9876", "producer": {"group": "%s"}}}}'
        self.message = (
            f"no RocketMQ template named {name!r} is configured (configured: {', '.join(configured)}); "
            f"add it to the settings, e.g. {example % (name, name)}"
        )

    def __str__(self) -> str:
        return self.message


class UnsupportedFeatureError(MQClientError):
    """The broker is too old for the feature (e.g. arbitrary delays or POP need RocketMQ 5.x).

    Attributes:
        feature: what was asked (``"send_delayed"``, ``"receive"`` ...).
        broker_version: the broker's version as reported in its responses (``"V4_9_8"``).
    """

    def __init__(self, message: str, feature: str, broker_version: str) -> None:
        super().__init__(message)
        self.feature = feature
        self.broker_version = broker_version
