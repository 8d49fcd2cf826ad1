"""Transactional sends with local-transaction listeners — many per application.

rocketmq-spring allows exactly one ``@RocketMQTransactionListener`` per template, so every extra
transactional flow needs another template class (apache/rocketmq-spring#71, #253, #292, #449).
Here each listener is registered for a **producer group** (one half-message producer each) and
optionally a set of **destinations** (topics); :meth:`RocketMQTemplate.send_in_transaction` picks
the listener by explicit ``producer_group``, else by the destination's topic, else the template's
only listener. Broker check-backs (CHECK_TRANSACTION_STATE) carry the producer group (``PGROUP``)
and are answered by that group's listener, so a restarted process resolves half messages sent by
an earlier one.

Listener methods may be plain (run in a worker thread, so a blocking DB transaction does not stall
the client loop) or ``async``. They receive a :class:`TransactionMessage` whose ``payload`` is
already converted.

Example::

    @rocketmq_transaction_listener(producer_group="orders-tx", destinations=["orders"])
    class OrderTx:
        def execute_local_transaction(self, message, arg):
            save_order(message.payload)
            return LocalTransactionState.COMMIT

        def check_local_transaction(self, message):
            return LocalTransactionState.COMMIT if order_exists(message.keys) else LocalTransactionState.ROLLBACK
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from broker_core.message.model import Message, MessageExt
from broker_core.message.properties import MessageConst
from rocketmq_integration.client.transaction import LocalTransactionState as ClientState
from rocketmq_integration.converters import CONTENT_TYPE_PROPERTY, MessageConverter, get_converter
from rocketmq_integration.errors import ListenerConfigError, MQClientError
from rocketmq_integration.logging import get_logger

__all__ = [
    "LocalTransactionState",
    "RocketMQLocalTransactionListener",
    "TransactionListenerRegistry",
    "TransactionListenerSpec",
    "TransactionMessage",
    "default_transaction_registry",
    "rocketmq_transaction_listener",
]

log = get_logger(__name__)
L = TypeVar("L")


class LocalTransactionState(enum.Enum):
    """What the local transaction decided (Spring ``RocketMQLocalTransactionState``)."""

    COMMIT = "COMMIT"
    ROLLBACK = "ROLLBACK"
    UNKNOWN = "UNKNOWN"

    def to_client(self) -> ClientState:
        """The client enum (``UNKNOW`` sic)."""
        return _TO_CLIENT[self]


_TO_CLIENT = {
    LocalTransactionState.COMMIT: ClientState.COMMIT_MESSAGE,
    LocalTransactionState.ROLLBACK: ClientState.ROLLBACK_MESSAGE,
    LocalTransactionState.UNKNOWN: ClientState.UNKNOW,
}


@dataclass(frozen=True, slots=True)
class TransactionMessage:
    """The half message as a transaction listener sees it."""

    topic: str
    tags: str | None
    keys: str | None
    properties: dict[str, str]
    body: bytes
    payload: Any
    msg_id: str | None
    transaction_id: str | None


def _to_view(msg: Message | MessageExt, converter: MessageConverter) -> TransactionMessage:
    try:
        payload = converter.from_message(msg.body, msg.properties.get(CONTENT_TYPE_PROPERTY))
    except Exception:
        payload = msg.body
    msg_id = msg.properties.get(MessageConst.UNIQ_KEY) or (
        msg.msg_id if isinstance(msg, MessageExt) else None
    )
    return TransactionMessage(
        topic=msg.topic, tags=msg.tags, keys=msg.keys, properties=dict(msg.properties), body=msg.body,
        payload=payload, msg_id=msg_id, transaction_id=msg_id,  # 4.9.8: the UNIQ_KEY is the transaction id
    )  # fmt: skip


class RocketMQLocalTransactionListener(Protocol):
    """What a transaction listener implements (methods may also be ``async``)."""

    def execute_local_transaction(self, message: TransactionMessage, arg: Any) -> LocalTransactionState:
        """Run the local transaction for a stored half message."""
        ...

    def check_local_transaction(self, message: TransactionMessage) -> LocalTransactionState:
        """Answer the broker's check-back for a half message whose outcome is unknown."""
        ...


@dataclass(frozen=True, slots=True)
class TransactionListenerSpec:
    """A registered transaction listener."""

    listener: Any
    producer_group: str
    template: str = "default"
    destinations: tuple[str, ...] = ()


class _ClientListenerAdapter:
    """Adapts a user listener to the client's ``TransactionListener`` protocol."""

    def __init__(self, spec: TransactionListenerSpec, converter: MessageConverter) -> None:
        self.spec = spec
        self.converter = converter

    async def _invoke(self, fn: Callable[..., Any], *args: Any) -> ClientState:
        if inspect.iscoroutinefunction(fn):
            state = await fn(*args)
        else:
            state = await asyncio.to_thread(fn, *args)
        if isinstance(state, ClientState):
            return state
        if not isinstance(state, LocalTransactionState):
            raise MQClientError(f"transaction listener returned {state!r}, not a LocalTransactionState")
        return state.to_client()

    async def execute_local_transaction(self, msg: Message, arg: Any) -> ClientState:
        """Run the user's execute method with a converted view."""
        return await self._invoke(
            self.spec.listener.execute_local_transaction, _to_view(msg, self.converter), arg
        )

    async def check_local_transaction(self, msg: MessageExt) -> ClientState:
        """Run the user's check method with a converted view."""
        return await self._invoke(self.spec.listener.check_local_transaction, _to_view(msg, self.converter))

    def client_listener(self) -> Any:
        """``self`` typed for the client (its Protocol allows sync or async methods)."""
        return self


class TransactionListenerRegistry:
    """Transaction listeners by producer group, routable by template and destination."""

    def __init__(self) -> None:
        self._specs: dict[str, TransactionListenerSpec] = {}
        self._lock = threading.Lock()

    def register(self, spec: TransactionListenerSpec) -> None:
        """Add ``spec``; one listener per producer group.

        Raises:
            ListenerConfigError: the group already has a different listener class.
        """
        for name in ("execute_local_transaction", "check_local_transaction"):
            if not callable(getattr(spec.listener, name, None)):
                raise ListenerConfigError(f"transaction listener {spec.listener!r} has no {name}()")
        with self._lock:
            old = self._specs.get(spec.producer_group)
            if old is not None and type(old.listener) is not type(spec.listener):
                raise ListenerConfigError(
                    f"invalid transaction listener attribute 'producer_group': {spec.producer_group!r} "
                    f"already has {type(old.listener).__qualname__}"
                )
            self._specs[spec.producer_group] = spec

    def all(self) -> list[TransactionListenerSpec]:
        """Every registered listener."""
        with self._lock:
            return list(self._specs.values())

    def route(self, template: str, topic: str, producer_group: str | None = None) -> TransactionListenerSpec:
        """The listener for a send: by ``producer_group``, else by topic, else the template's only one.

        Raises:
            MQClientError: nothing (or more than one candidate) matches.
        """
        with self._lock:
            if producer_group is not None:
                spec = self._specs.get(producer_group)
                if spec is None:
                    raise MQClientError(f"no transaction listener for producer group {producer_group!r}")
                return spec
            mine = [s for s in self._specs.values() if s.template == template]
        by_topic = [s for s in mine if topic in s.destinations]
        if len(by_topic) == 1:
            return by_topic[0]
        catch_all = [s for s in mine if not s.destinations]
        if not by_topic and len(catch_all) == 1:
            return catch_all[0]
        raise MQClientError(
            f"cannot choose a transaction listener for template {template!r} and topic {topic!r} "
            f"({len(by_topic) or len(catch_all)} candidates); pass producer_group="
        )

    def unregister(self, producer_group: str) -> None:
        """Remove the listener of ``producer_group``."""
        with self._lock:
            self._specs.pop(producer_group, None)

    def adapter(self, spec: TransactionListenerSpec, converter: MessageConverter | str | None) -> Any:
        """The client-side listener object for ``spec``."""
        return _ClientListenerAdapter(spec, get_converter(converter)).client_listener()


#: the registry ``@rocketmq_transaction_listener`` uses unless told otherwise
default_transaction_registry = TransactionListenerRegistry()


def rocketmq_transaction_listener(
    *,
    producer_group: str,
    template: str = "default",
    destinations: Sequence[str] = (),
    registry: TransactionListenerRegistry | None = None,
) -> Callable[[L], L]:
    """Register a transaction listener class (instantiated without arguments) or instance.

    Raises:
        ListenerConfigError: missing methods, bad ``producer_group``, or a group clash.
    """
    if not producer_group or not isinstance(producer_group, str):
        raise ListenerConfigError("invalid transaction listener attribute 'producer_group': required")
    if isinstance(destinations, str):
        raise ListenerConfigError(
            "invalid transaction listener attribute 'destinations': a sequence of topics"
        )

    def decorate(target: L) -> L:
        instance: Any = target() if inspect.isclass(target) else target
        topics = tuple(d.partition(":")[0] for d in destinations)
        spec = TransactionListenerSpec(instance, producer_group, template, topics)
        (registry if registry is not None else default_transaction_registry).register(spec)
        return target

    return decorate
