"""``@rocketmq_listener``: declare a consumer on a function or class; :class:`ListenerSpec` holds it.

Every attribute of rocketmq-spring's ``@RocketMQMessageListener`` that our client can honour is an
argument (snake_case). The declaration is validated when it is made (at import/registration), so
a typo or an impossible combination fails with :class:`~rocketmq_integration.errors.ListenerConfigError`
naming the attribute, not minutes later inside a consumer thread.

Accepted targets:

* ``def fn(payload)`` / ``def fn(payload, ctx: MessageContext)`` (sync: runs in the container's
  bounded thread pool of ``concurrency`` threads) or the same as ``async def`` (runs on the loop);
* with ``batch=True``: ``fn(list_of_payloads)`` / ``fn(payloads, contexts)``;
* a class with ``on_message(self, payload[, ctx])`` (instantiated without arguments; Spring's
  ``RocketMQListener``). A non-``None`` return value is the reply of a reply listener.

``payload_type`` defaults to the annotation of the first parameter (``MessageExt`` means the raw
message; ``bytes``/``str``/dataclasses/pydantic models are converted).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from broker_core.message.names import validate_group, validate_topic
from rocketmq_integration.client.config import ListenerKind, MessageModel
from rocketmq_integration.errors import ListenerConfigError

__all__ = [
    "ConsumeFrom",
    "ConsumeMode",
    "Handler",
    "ListenerSpec",
    "MessageContext",
    "MessageModel",
    "SelectorType",
    "rocketmq_listener",
    "rocketmq_tag_handler",
]

F = TypeVar("F", bound=Callable[..., Any] | type)


class SelectorType(enum.Enum):
    """How ``selector_expression`` is read."""

    TAG = "TAG"
    SQL92 = "SQL92"


#: Concurrent or per-queue ordered consumption (the client's listener kind, Spring's name).
ConsumeMode = ListenerKind


class ConsumeFrom(enum.Enum):
    """Where a new group starts on a queue."""

    LAST_OFFSET = "CONSUME_FROM_LAST_OFFSET"
    FIRST_OFFSET = "CONSUME_FROM_FIRST_OFFSET"
    TIMESTAMP = "CONSUME_FROM_TIMESTAMP"


@dataclass(frozen=True, slots=True)
class MessageContext:
    """What a listener may want to know about the message besides its payload."""

    msg_id: str
    topic: str
    tags: str | None
    keys: str | None
    properties: dict[str, str]
    queue_id: int
    queue_offset: int
    reconsume_times: int
    born_timestamp: int
    consumer_group: str
    body: bytes = b""


class Handler(NamedTuple):
    """A callable plus what the container needs to know to call it."""

    target: Callable[..., Any]
    wants_context: bool
    payload_type: Any
    is_async: bool


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """A validated listener declaration (see :func:`rocketmq_listener` for the attributes)."""

    target: Callable[..., Any]
    topic: str
    consumer_group: str
    name: str
    selector_type: SelectorType = SelectorType.TAG
    selector_expression: str = "*"
    consume_mode: ConsumeMode = ConsumeMode.CONCURRENTLY
    message_model: MessageModel = MessageModel.CLUSTERING
    concurrency: int = 4
    max_reconsume_times: int = -1
    consume_timeout: float = 900.0
    reply_timeout: float = 3.0
    delay_level_when_next_consume: int = 0
    suspend_current_queue_time: float = 1.0
    await_termination_when_shutdown: float = 30.0
    batch: bool = False
    batch_max_size: int = 1
    pull_batch_size: int = 32
    consume_from: ConsumeFrom = ConsumeFrom.LAST_OFFSET
    consume_timestamp: str = ""
    payload_type: Any = None
    converter: str | None = None
    idempotent: bool | str = False
    name_server: str | None = None
    instance_name: str | None = None
    enabled: bool = True
    wants_context: bool = False
    is_async: bool = False
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        for attr, (kind, shown) in _ENUM_ATTRS.items():
            value = getattr(self, attr)
            if isinstance(value, str):
                object.__setattr__(self, attr, _enum_from_str(attr, kind, shown, value))
        _validate(self)

    def replace(self, **changes: Any) -> ListenerSpec:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


#: enum attributes: their type and the documented name of it (``ConsumeMode`` is ``ListenerKind``)
_ENUM_ATTRS: dict[str, tuple[type[enum.Enum], str]] = {
    "selector_type": (SelectorType, "SelectorType"),
    "consume_mode": (ConsumeMode, "ConsumeMode"),
    "message_model": (MessageModel, "MessageModel"),
    "consume_from": (ConsumeFrom, "ConsumeFrom"),
}


def _choices(kind: type[enum.Enum]) -> str:
    return ", ".join(repr(m.name) for m in kind)


def _enum_from_str(attr: str, kind: type[enum.Enum], shown: str, value: str) -> enum.Enum:
    """The member named (or valued) ``value``, case-insensitively: ``"ORDERLY"``, ``"FIRST_OFFSET"``,
    ``"CONSUME_FROM_FIRST_OFFSET"``."""
    wanted = value.strip().upper()
    for member in kind:
        if wanted in (member.name, str(member.value).upper()):
            return member
    _fail(attr, f"{value!r} is not one of {_choices(kind)} (a string or a {shown} member)")


def _fail(attr: str, why: str) -> typing.NoReturn:
    raise ListenerConfigError(f"invalid listener attribute {attr!r}: {why}")


def _validate(s: ListenerSpec) -> None:
    for attr, check in (("topic", validate_topic), ("consumer_group", validate_group)):
        value = getattr(s, attr)
        if not isinstance(value, str) or not value:
            _fail(attr, "required, non-empty string")
        problem = check(value)
        if problem is not None:
            _fail(attr, f"{value!r}: {problem}")
    for attr, (kind, shown) in _ENUM_ATTRS.items():
        if not isinstance(getattr(s, attr), kind):
            _fail(
                attr,
                f"must be one of {_choices(kind)} (a string or a {shown} member), got {getattr(s, attr)!r}",
            )
    if not isinstance(s.selector_expression, str) or not s.selector_expression.strip():
        _fail("selector_expression", "must be a non-empty string ('*' for all)")
    if s.consume_mode is ConsumeMode.ORDERLY and s.message_model is MessageModel.BROADCASTING:
        _fail("consume_mode", "ORDERLY cannot be combined with message_model=BROADCASTING")
    positive_ints = {"concurrency": 1000, "batch_max_size": 1024, "pull_batch_size": 1024}
    for attr, limit in positive_ints.items():
        value = getattr(s, attr)
        if type(value) is not int or not 1 <= value <= limit:
            _fail(attr, f"must be an int in 1..{limit}, got {value!r}")
    if type(s.max_reconsume_times) is not int or s.max_reconsume_times < -1:
        _fail("max_reconsume_times", f"must be an int >= -1, got {s.max_reconsume_times!r}")
    if type(s.delay_level_when_next_consume) is not int or s.delay_level_when_next_consume < -1:
        _fail("delay_level_when_next_consume", "must be -1 (DLQ), 0 (broker decides) or a level")
    for attr in ("consume_timeout", "reply_timeout", "await_termination_when_shutdown"):
        value = getattr(s, attr)
        if not isinstance(value, int | float) or value <= 0:
            _fail(attr, f"must be a positive number of seconds, got {value!r}")
    if not 0.01 <= s.suspend_current_queue_time <= 30:
        _fail("suspend_current_queue_time", "must be within 0.01..30 seconds")
    if s.batch_max_size > 1 and not s.batch:
        _fail("batch_max_size", "only meaningful with batch=True")
    if s.idempotent not in (False, True, "msg_id", "key"):
        _fail("idempotent", "must be False, True, 'msg_id' or 'key'")
    if (
        s.consume_from is ConsumeFrom.TIMESTAMP
        and s.consume_timestamp
        and not (len(s.consume_timestamp) == 14 and s.consume_timestamp.isdigit())
    ):
        _fail("consume_timestamp", "must be yyyyMMddHHmmss")
    if not callable(s.target):
        _fail("target", "must be callable")


def _resolve_target(obj: Any) -> tuple[Callable[..., Any], str]:
    """The callable to invoke and a default name."""
    if inspect.isclass(obj):
        method = getattr(obj, "on_message", None)
        if method is None:
            raise ListenerConfigError(f"listener class {obj.__qualname__} has no on_message method")
        try:
            instance: Any = obj()
        except TypeError as exc:
            raise ListenerConfigError(
                f"listener class {obj.__qualname__} must be constructible: {exc}"
            ) from exc
        return instance.on_message, f"{obj.__module__}.{obj.__qualname__}"
    if not callable(obj):
        raise ListenerConfigError(f"@rocketmq_listener target {obj!r} is not callable")
    return obj, f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _signature_facts(fn: Callable[..., Any], batch: bool) -> tuple[bool, Any, bool]:
    """(wants_context, annotated payload type, is_async)."""
    is_async = inspect.iscoroutinefunction(fn)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False, None, is_async
    params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not params:
        raise ListenerConfigError(f"listener {fn!r} must accept the payload as first parameter")
    if len(params) > 2:
        raise ListenerConfigError(f"listener {fn!r} takes (payload) or (payload, ctx), not {len(params)}")
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    payload_type = hints.get(params[0].name)
    if batch and payload_type is not None and typing.get_origin(payload_type) in (list, typing.Sequence):
        args = typing.get_args(payload_type)
        payload_type = args[0] if args else None
    elif batch:
        payload_type = None
    return len(params) == 2, payload_type, is_async


def build_spec(target: Any, **attrs: Any) -> ListenerSpec:
    """Build a validated :class:`ListenerSpec` for ``target`` (used by the decorator and by
    programmatic registration)."""
    fn, default_name = _resolve_target(target)
    wants_ctx, annotated, is_async = _signature_facts(fn, bool(attrs.get("batch", False)))
    if attrs.get("payload_type") is None:
        attrs["payload_type"] = annotated
    if attrs.get("name") is None:
        attrs["name"] = default_name
    unknown = set(attrs) - {f.name for f in dataclasses.fields(ListenerSpec)}
    if unknown:
        raise ListenerConfigError(f"unknown listener attribute(s): {', '.join(sorted(unknown))}")
    return ListenerSpec(target=fn, wants_context=wants_ctx, is_async=is_async, **attrs)


def rocketmq_listener(
    *,
    topic: str,
    consumer_group: str,
    selector_type: SelectorType | str = SelectorType.TAG,
    selector_expression: str = "*",
    consume_mode: ConsumeMode | str = ConsumeMode.CONCURRENTLY,
    message_model: MessageModel | str = MessageModel.CLUSTERING,
    concurrency: int = 4,
    max_reconsume_times: int = -1,
    consume_timeout: float = 900.0,
    reply_timeout: float = 3.0,
    delay_level_when_next_consume: int = 0,
    suspend_current_queue_time: float = 1.0,
    await_termination_when_shutdown: float = 30.0,
    batch: bool = False,
    batch_max_size: int = 1,
    pull_batch_size: int = 32,
    consume_from: ConsumeFrom | str = ConsumeFrom.LAST_OFFSET,
    consume_timestamp: str = "",
    payload_type: Any = None,
    converter: str | None = None,
    idempotent: bool | str = False,
    name_server: str | None = None,
    instance_name: str | None = None,
    enabled: bool = True,
    name: str | None = None,
    registry: Any = None,
) -> Callable[[F], F]:
    """Declare a listener and register it in ``registry`` (default: the global registry).

    Raises:
        ListenerConfigError: at decoration time, naming the offending attribute.
    """

    def decorate(target: F) -> F:
        from rocketmq_integration.listeners.registry import default_registry

        spec = build_spec(
            target, topic=topic, consumer_group=consumer_group, selector_type=selector_type,
            selector_expression=selector_expression, consume_mode=consume_mode, message_model=message_model,
            concurrency=concurrency, max_reconsume_times=max_reconsume_times, consume_timeout=consume_timeout,
            reply_timeout=reply_timeout, delay_level_when_next_consume=delay_level_when_next_consume,
            suspend_current_queue_time=suspend_current_queue_time,
            await_termination_when_shutdown=await_termination_when_shutdown, batch=batch,
            batch_max_size=batch_max_size, pull_batch_size=pull_batch_size, consume_from=consume_from,
            consume_timestamp=consume_timestamp, payload_type=payload_type, converter=converter,
            idempotent=idempotent, name_server=name_server, instance_name=instance_name, enabled=enabled,
            name=name,
        )  # fmt: skip
        (registry if registry is not None else default_registry).register(spec)
        try:
            target.__rocketmq_listener__ = spec  # type: ignore[union-attr]
        except (AttributeError, TypeError):
            pass
        return target

    return decorate


def rocketmq_tag_handler(listener: Any, tags: str) -> Callable[[F], F]:
    """Route messages with one of ``tags`` (``"a || b"``) to the decorated function instead of
    ``listener`` — several handlers behind one consumer group and one subscription, the fix for
    rocketmq-spring's "one group, different tags" trap. Handlers take ``(payload[, ctx])``; their
    payload type comes from their own annotation.

    Raises:
        ListenerConfigError: ``listener`` is not a registered listener, is a batch listener, the
            tag is outside its TAG selector, or sync/async differs from the listener's.
    """
    spec = (
        listener if isinstance(listener, ListenerSpec) else getattr(listener, "__rocketmq_listener__", None)
    )
    if not isinstance(spec, ListenerSpec):
        raise ListenerConfigError(f"{listener!r} is not a @rocketmq_listener")
    wanted = [t.strip() for t in tags.split("||") if t.strip()]
    if not wanted or "*" in wanted:
        _fail("tags", "name one or more tags, e.g. 'created || updated'")
    if spec.batch:
        _fail("tags", "tag handlers need a non-batch listener")
    if spec.selector_type is SelectorType.TAG and spec.selector_expression.strip() != "*":
        allowed = {t.strip() for t in spec.selector_expression.split("||")}
        missing = [t for t in wanted if t not in allowed]
        if missing:
            _fail("tags", f"{missing} not in the listener's selector_expression {spec.selector_expression!r}")

    def decorate(fn: F) -> F:
        target, _name = _resolve_target(fn)
        wants_ctx, ptype, is_async = _signature_facts(target, False)
        if is_async != spec.is_async:
            _fail("tags", "a tag handler must be async exactly when its listener is")
        handlers = spec.extra.setdefault("tag_handlers", {})
        for tag in wanted:
            handlers[tag] = Handler(target, wants_ctx, ptype, is_async)
        return fn

    return decorate
