"""Message converters: payload objects <-> message bodies, with a ``contentType`` user property.

rocketmq-spring users fight Jackson over datetimes and ignored ``ObjectMapper`` settings; here the
default :class:`DefaultConverter` is small and predictable:

========================  ==================================  =======================
outbound payload          body                                ``contentType``
========================  ==================================  =======================
``bytes``/``bytearray``   as is                               application/octet-stream
``str``                   UTF-8 (the template's charset)      text/plain;charset=utf-8
anything else             JSON (dataclasses, pydantic-like    application/json
                          ``model_dump()``, aware datetimes,
                          Decimal, UUID, Enum, sets)
========================  ==================================  =======================

Inbound, the listener's ``payload_type`` decides: ``bytes`` -> raw body, ``str`` -> decoded text,
a dataclass -> built from the JSON object, a class with ``model_validate`` (pydantic) -> that,
``None`` -> guessed from ``contentType`` (JSON when absent and the body parses). Any failure raises
:class:`~rocketmq_integration.errors.ConversionError` so the container can log it with the msg id
and hand the message to the broker's retry/DLQ path instead of losing it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import typing
import uuid
from typing import Any, Protocol, runtime_checkable

from rocketmq_integration.errors import ConversionError

__all__ = [
    "CONTENT_TYPE_PROPERTY",
    "BytesConverter",
    "DefaultConverter",
    "JsonConverter",
    "MessageConverter",
    "StringConverter",
    "get_converter",
]

#: user property carrying the body's media type (the Spring ``contentType`` header)
CONTENT_TYPE_PROPERTY = "contentType"
JSON = "application/json"
TEXT = "text/plain;charset=utf-8"
OCTETS = "application/octet-stream"


@runtime_checkable
class MessageConverter(Protocol):
    """Turns payloads into ``(body, content_type)`` and bodies back into payloads."""

    def to_message(self, payload: Any) -> tuple[bytes, str]:
        """Serialise ``payload``; raise ConversionError when impossible."""
        ...

    def from_message(self, body: bytes, content_type: str | None, payload_type: Any = None) -> Any:
        """Deserialise ``body`` into ``payload_type`` (``None`` = natural type for the content type)."""
        ...


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "model_dump"):  # pydantic v2 and look-alikes
        return obj.model_dump(mode="json")
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, decimal.Decimal | uuid.UUID):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, bytes):
        return obj.decode("latin-1")
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _build(payload_type: Any, data: Any) -> Any:
    """Coerce decoded JSON ``data`` into ``payload_type``."""
    if payload_type is None or payload_type is Any:
        return data
    origin = typing.get_origin(payload_type)
    if origin is not None:  # list[X], dict[str, X] ...: check the container only
        if not isinstance(data, origin):
            raise ConversionError(f"expected {payload_type}, got {type(data).__name__}")
        args = typing.get_args(payload_type)
        if origin is list and args:
            return [_build(args[0], item) for item in data]
        return data
    if hasattr(payload_type, "model_validate"):
        return payload_type.model_validate(data)
    if dataclasses.is_dataclass(payload_type) and isinstance(payload_type, type):
        cls: Any = payload_type
        if not isinstance(data, dict):
            raise ConversionError(f"expected a JSON object for {cls.__name__}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                kwargs[f.name] = _coerce_field(hints.get(f.name), data[f.name])
        return cls(**kwargs)
    if payload_type in (dt.datetime, dt.date) and isinstance(data, str):
        return payload_type.fromisoformat(data)
    if payload_type in (decimal.Decimal, uuid.UUID) or (
        isinstance(payload_type, type) and issubclass(payload_type, enum.Enum)
    ):
        return payload_type(data)
    if isinstance(payload_type, type) and not isinstance(data, payload_type):
        if payload_type is float and isinstance(data, int):
            return float(data)
        raise ConversionError(f"expected {payload_type.__name__}, got {type(data).__name__}")
    return data


def _coerce_field(hint: Any, value: Any) -> Any:
    if hint is None or value is None:
        return value
    if hint in (dt.datetime, dt.date, decimal.Decimal, uuid.UUID) or dataclasses.is_dataclass(hint):
        return _build(hint, value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    return value


class JsonConverter:
    """JSON for everything (also ``str``/``bytes`` payloads are JSON-encoded)."""

    def __init__(self, charset: str = "utf-8") -> None:
        self.charset = charset

    def to_message(self, payload: Any) -> tuple[bytes, str]:
        """JSON-encode ``payload`` (see the module table for supported types)."""
        try:
            text = json.dumps(payload, default=_json_default, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"cannot serialise {type(payload).__name__} to JSON: {exc}") from exc
        return text.encode(self.charset), JSON

    def from_message(self, body: bytes, content_type: str | None, payload_type: Any = None) -> Any:
        """Parse JSON and coerce into ``payload_type``."""
        try:
            data = json.loads(body.decode(self.charset))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ConversionError(f"body is not valid JSON: {exc}") from exc
        try:
            return _build(payload_type, data)
        except ConversionError:
            raise
        except Exception as exc:
            name = getattr(payload_type, "__name__", str(payload_type))
            raise ConversionError(f"cannot build {name} from JSON: {exc}") from exc


class StringConverter:
    """``str`` payloads as text in ``charset``."""

    def __init__(self, charset: str = "utf-8") -> None:
        self.charset = charset

    def to_message(self, payload: Any) -> tuple[bytes, str]:
        """Encode a ``str``; anything else is a ConversionError."""
        if not isinstance(payload, str):
            raise ConversionError(f"StringConverter needs str, got {type(payload).__name__}")
        return payload.encode(self.charset), TEXT

    def from_message(self, body: bytes, content_type: str | None, payload_type: Any = None) -> Any:
        """Decode the body as text."""
        try:
            return body.decode(self.charset)
        except UnicodeDecodeError as exc:
            raise ConversionError(f"body is not {self.charset} text: {exc}") from exc


class BytesConverter:
    """Raw bodies both ways."""

    def to_message(self, payload: Any) -> tuple[bytes, str]:
        """Pass ``bytes``/``bytearray``/``memoryview`` through."""
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise ConversionError(f"BytesConverter needs bytes, got {type(payload).__name__}")
        return bytes(payload), OCTETS

    def from_message(self, body: bytes, content_type: str | None, payload_type: Any = None) -> Any:
        """Return the body unchanged."""
        return body


class DefaultConverter:
    """The composite default: bytes and str pass through, everything else is JSON."""

    def __init__(self, charset: str = "utf-8") -> None:
        self.json = JsonConverter(charset)
        self.text = StringConverter(charset)
        self.raw = BytesConverter()

    def to_message(self, payload: Any) -> tuple[bytes, str]:
        """Dispatch on the payload's type (see the module table)."""
        if payload is None:
            raise ConversionError("payload must not be None")
        if isinstance(payload, bytes | bytearray | memoryview):
            return self.raw.to_message(payload)
        if isinstance(payload, str):
            return self.text.to_message(payload)
        return self.json.to_message(payload)

    def from_message(self, body: bytes, content_type: str | None, payload_type: Any = None) -> Any:
        """Dispatch on ``payload_type`` first, then on ``content_type``."""
        if payload_type is Any or payload_type is object:
            payload_type = None
        if payload_type is bytes:
            return body
        if payload_type is str:
            if content_type == JSON:
                value = self.json.from_message(body, content_type)
                return value if isinstance(value, str) else json.dumps(value)
            return self.text.from_message(body, content_type)
        if payload_type is None:
            if content_type == OCTETS:
                return body
            if content_type is not None and content_type.startswith("text/"):
                return self.text.from_message(body, content_type)
            if content_type is None:  # foreign producer: JSON if it parses, else text, else bytes
                try:
                    return self.json.from_message(body, JSON)
                except ConversionError:
                    try:
                        return self.text.from_message(body, None)
                    except ConversionError:
                        return body
        return self.json.from_message(body, content_type, payload_type)


_NAMED: dict[str, type[MessageConverter]] = {
    "json": JsonConverter,
    "default": DefaultConverter,
    "str": StringConverter,
    "bytes": BytesConverter,
}


def get_converter(spec: str | MessageConverter | None) -> MessageConverter:
    """Resolve a converter by name (``default``, ``json``, ``str``, ``bytes``) or pass one through."""
    if spec is None:
        return DefaultConverter()
    if isinstance(spec, str):
        try:
            return _NAMED[spec]()
        except KeyError:
            raise ConversionError(f"unknown converter {spec!r}; known: {sorted(_NAMED)}") from None
    return spec
