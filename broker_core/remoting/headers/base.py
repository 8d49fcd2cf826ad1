"""Typed custom headers mapped to and from the ``extFields`` string map.

Each header is a dataclass subclass of :class:`CommandHeader`. Field names are snake_case in
Python and camelCase on the wire (``consumer_group`` <-> ``consumerGroup``); a field may name its
wire key explicitly with ``field(metadata={"wire": "..."})`` (see :func:`wire_name`).
Decoding follows Java's ``decodeCommandCustomHeader``: missing fields keep their default, ints and
longs parse as decimals, booleans are ``"true"`` (any case) or false. A *required* field (one
without a default) that is missing or malformed raises :class:`HeaderError`, which processors turn
into an error response instead of Java's NullPointerException.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from broker_core.errors import BrokerCoreError

T = TypeVar("T", bound="CommandHeader")

_MISSING = dataclasses.MISSING


class HeaderError(BrokerCoreError):
    """A request header lacks a required field or holds an unparsable value."""


def wire_name(name: str, **kwargs: Any) -> Any:
    """A dataclass field whose ext-field key is ``name`` (for keys that are not camelCase of the field)."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["wire"] = name
    return dataclasses.field(metadata=metadata, **kwargs)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _parse_bool(value: str) -> bool:
    return value.lower() == "true"


def _optional(conv: Any, raw: str | None, default: Any) -> Any:
    return default if raw is None or raw == "" else conv(raw)


def _format(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


_PARSERS: dict[str, Any] = {"str": str, "int": int, "bool": _parse_bool, "float": float}


class CommandHeader:
    """Base of typed headers; subclasses must be dataclasses."""

    _plan: ClassVar[tuple[tuple[str, str, Any, bool], ...] | None] = None
    _fast: ClassVar[Any] = None

    @classmethod
    def _fields_plan(cls) -> tuple[tuple[str, str, Any, bool], ...]:
        plan = cls.__dict__.get("_plan")
        if plan is None:
            hints = typing.get_type_hints(cls)
            entries = []
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                hint = hints[f.name]
                args = typing.get_args(hint)
                base = next((a for a in args if a is not type(None)), hint) if args else hint
                parser = _PARSERS.get(getattr(base, "__name__", "str"), str)
                required = f.default is _MISSING and f.default_factory is _MISSING
                entries.append((f.name, f.metadata.get("wire", _camel(f.name)), parser, required))
            plan = tuple(entries)
            cls._plan = plan
        return plan

    @classmethod
    def _fast_decoder(cls) -> Any:
        """A decoder generated once per class: one dict lookup and conversion per field, no loop.

        Any failure (missing or malformed field) falls back to :meth:`_decode_checked`, which
        produces the precise :class:`HeaderError`.
        """
        fast = cls.__dict__.get("_fast")
        if fast is None:
            defaults = {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
            namespace: dict[str, Any] = {
                "cls": cls,
                "_i": int,
                "_b": _parse_bool,
                "_f": float,
                "_opt": _optional,
            }
            args = []
            for idx, (name, wire, parser, required) in enumerate(cls._fields_plan()):
                conv = {int: "_i", _parse_bool: "_b", float: "_f"}.get(parser)
                if required:
                    expr = f"ext[{wire!r}]" if conv is None else f"{conv}(ext[{wire!r}])"
                else:
                    namespace[f"_d{idx}"] = defaults[name]
                    if conv is None:
                        expr = f"get({wire!r}, _d{idx})"
                    else:
                        expr = f"_opt({conv}, get({wire!r}), _d{idx})"
                args.append(f"{name}={expr}")
            src = "def _fast(ext):\n    get = ext.get\n    return cls(" + ", ".join(args) + ")\n"
            exec(src, namespace)  # generated from the dataclass fields only, never from input
            fast = namespace["_fast"]
            cls._fast = fast
        return fast

    @classmethod
    def from_ext_fields(cls: type[T], ext: Mapping[str, str] | None) -> T:
        """Decode from a request's ext fields; raises HeaderError on a missing required field."""
        if ext:
            try:
                return cls._fast_decoder()(ext)  # type: ignore[no-any-return]
            except (KeyError, ValueError, TypeError):
                pass
        return cls._decode_checked(ext or {})

    @classmethod
    def _decode_checked(cls: type[T], ext: Mapping[str, str]) -> T:
        kwargs: dict[str, Any] = {}
        for name, wire, parser, required in cls._fields_plan():
            raw = ext.get(wire)
            if raw is None or (raw == "" and parser is not str):
                if required:
                    raise HeaderError(f"the custom header field {wire} is missing")
                continue
            try:
                kwargs[name] = parser(raw)
            except ValueError as exc:
                raise HeaderError(f"the custom header field {wire} is invalid: {raw!r}") from exc
        return cls(**kwargs)

    def to_ext_fields(self) -> dict[str, str]:
        """Encode non-``None`` fields as strings (Java ``makeCustomHeaderToNet``)."""
        out: dict[str, str] = {}
        for name, wire, _parser, _required in self._fields_plan():
            value = getattr(self, name)
            if value is not None:
                out[wire] = _format(value)
        return out
