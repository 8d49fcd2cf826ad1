"""kombu transport ``rocketmq://`` (Celery broker) over this project's RocketMQ client.

Importing this package registers the alias ``rocketmq`` in ``kombu.transport.TRANSPORT_ALIASES``
(idempotent), so ``kombu.Connection("rocketmq://127.0.0.1:9876//")`` and Celery's
``broker_url = "rocketmq://127.0.0.1:9876//"`` resolve to :class:`Transport`. Without the import,
name the class: ``transport="rocketmq_integration.kombu.transport:Transport"`` (Celery:
``broker_transport``). Features, URL and transport options: :mod:`rocketmq_integration.kombu.transport`.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES

from rocketmq_integration.kombu.options import InvalidTransportOption, TransportOptions
from rocketmq_integration.kombu.transport import Channel, QoS, Transport

__all__ = [
    "ALIAS",
    "TRANSPORT_PATH",
    "Channel",
    "InvalidTransportOption",
    "QoS",
    "Transport",
    "TransportOptions",
    "register",
]

ALIAS = "rocketmq"
TRANSPORT_PATH = "rocketmq_integration.kombu.transport:Transport"


def register() -> None:
    """Add ``rocketmq`` to kombu's transport aliases (no-op when it is there already)."""
    TRANSPORT_ALIASES.setdefault(ALIAS, TRANSPORT_PATH)


register()
