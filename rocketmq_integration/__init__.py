"""Python client and framework integrations (template, listeners, Django, Celery) for RocketMQ."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Framework-layer exports are resolved lazily (PEP 562): the pytest plugin and the Django app
# import this package in every process, and must not pay for the client stack until it is used.
_LAZY = {
    "RocketMQTemplate": "rocketmq_integration.template",
    "ReceivedMessage": "rocketmq_integration.template",
    "parse_destination": "rocketmq_integration.template",
    "rocketmq_listener": "rocketmq_integration.listeners",
    "ListenerRegistry": "rocketmq_integration.listeners",
    "ListenerContainer": "rocketmq_integration.listeners",
    "ListenerRunner": "rocketmq_integration.listeners",
    "MessageContext": "rocketmq_integration.listeners",
    "ReconsumeLater": "rocketmq_integration.listeners",
    "SuspendQueue": "rocketmq_integration.listeners",
    "DiscardMessage": "rocketmq_integration.listeners",
    "SendToDeadLetter": "rocketmq_integration.listeners",
    "SelectorType": "rocketmq_integration.listeners",
    "ConsumeMode": "rocketmq_integration.listeners",
    "MessageModel": "rocketmq_integration.listeners",
    "ConsumeFrom": "rocketmq_integration.listeners",
    "rocketmq_transaction_listener": "rocketmq_integration.transactions",
    "LocalTransactionState": "rocketmq_integration.transactions",
    "TransactionMessage": "rocketmq_integration.transactions",
    "RocketMQContainer": "rocketmq_integration.containers",
    "get_template": "rocketmq_integration.containers",
    "DefaultConverter": "rocketmq_integration.converters",
    "MessageConverter": "rocketmq_integration.converters",
    "InMemoryIdempotencyStore": "rocketmq_integration.idempotency",
    "IdempotencyStore": "rocketmq_integration.idempotency",
}

__all__ = [
    "__version__",
    "ConsumeFrom",
    "ConsumeMode",
    "DefaultConverter",
    "DiscardMessage",
    "IdempotencyStore",
    "InMemoryIdempotencyStore",
    "ListenerContainer",
    "ListenerRegistry",
    "ListenerRunner",
    "LocalTransactionState",
    "MessageContext",
    "MessageConverter",
    "MessageModel",
    "ReceivedMessage",
    "ReconsumeLater",
    "RocketMQContainer",
    "RocketMQTemplate",
    "SelectorType",
    "SendToDeadLetter",
    "SuspendQueue",
    "TransactionMessage",
    "get_template",
    "parse_destination",
    "rocketmq_listener",
    "rocketmq_transaction_listener",
]

if TYPE_CHECKING:
    from rocketmq_integration.containers import RocketMQContainer, get_template
    from rocketmq_integration.converters import DefaultConverter, MessageConverter
    from rocketmq_integration.idempotency import IdempotencyStore, InMemoryIdempotencyStore
    from rocketmq_integration.listeners import (
        ConsumeFrom,
        ConsumeMode,
        DiscardMessage,
        ListenerContainer,
        ListenerRegistry,
        ListenerRunner,
        MessageContext,
        MessageModel,
        ReconsumeLater,
        SelectorType,
        SendToDeadLetter,
        SuspendQueue,
        rocketmq_listener,
    )
    from rocketmq_integration.template import ReceivedMessage, RocketMQTemplate, parse_destination
    from rocketmq_integration.transactions import (
        LocalTransactionState,
        TransactionMessage,
        rocketmq_transaction_listener,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rocketmq_integration' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
