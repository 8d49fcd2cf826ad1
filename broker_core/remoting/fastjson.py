"""JSON as Alibaba fastjson 1.x writes and reads it.

fastjson serialises ``Map<Integer, …>`` with **unquoted** integer keys (``{0:"127.0.0.1:10911"}``),
which the Java, C++ and Node clients read, but which is not standard JSON. Apache's NameServer
writes that shape for clients below version 401 and quoted keys above. Readers here accept both;
writers choose.
"""

from __future__ import annotations

import json
import re
from typing import Any

# An integer key right after "{" or "," (outside strings, which we skip via the alternation).
_UNQUOTED_KEY = re.compile(r'("(?:[^"\\]|\\.)*")|([{,]\s*)(-?\d+)(\s*:)')


def _quote_keys(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return m.group(1)
        return f'{m.group(2)}"{m.group(3)}"{m.group(4)}'

    return _UNQUOTED_KEY.sub(repl, text)


def loads(data: bytes | str) -> Any:
    """Parse standard JSON or fastjson's unquoted-integer-key dialect."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(_quote_keys(text))


def _unquote_int_keys(obj: Any) -> str:
    if isinstance(obj, dict):
        parts = []
        for k, v in obj.items():
            key = (
                str(k)
                if isinstance(k, int) and not isinstance(k, bool)
                else json.dumps(str(k), ensure_ascii=False)
            )
            parts.append(f"{key}:{_unquote_int_keys(v)}")
        return "{" + ",".join(parts) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_unquote_int_keys(v) for v in obj) + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def dumps(obj: Any, *, unquoted_int_keys: bool = False, pretty: bool = False) -> str:
    """Serialise; with ``unquoted_int_keys`` int dict keys are written bare, as fastjson does."""
    if unquoted_int_keys:
        return _unquote_int_keys(obj)
    if pretty:
        return json.dumps(obj, ensure_ascii=False, indent="\t")
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _pretty(obj: Any, depth: int, unquoted_int_keys: bool) -> str:
    pad = "\t" * (depth + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = []
        for k, v in obj.items():
            if unquoted_int_keys and isinstance(k, int) and not isinstance(k, bool):
                key = str(k)
            else:
                key = json.dumps(str(k), ensure_ascii=False)
            items.append(f"{pad}{key}:{_pretty(v, depth + 1, unquoted_int_keys)}")
        return "{\n" + ",\n".join(items) + "\n" + "\t" * depth + "}"
    if isinstance(obj, list | tuple):
        if not obj:
            return "[]"
        return (
            "[\n"
            + ",\n".join(pad + _pretty(v, depth + 1, unquoted_int_keys) for v in obj)
            + "\n"
            + "\t" * depth
            + "]"
        )
    return json.dumps(obj, ensure_ascii=False)


def dumps_pretty(obj: Any, *, unquoted_int_keys: bool = True) -> str:
    """Tab-indented output in the shape fastjson's ``prettyFormat`` writes config files."""
    return _pretty(obj, 0, unquoted_int_keys)


ObjectKey = tuple[tuple[str, Any], ...]
"""A map key that is an object, as ``(field, value)`` pairs in fastjson's (alphabetical) field order."""


def dumps_object_keys(obj: Any) -> str:
    """Serialise like fastjson where some dict keys are objects (``Map<MessageQueue, …>``).

    Keys given as :data:`ObjectKey` tuples are written as the object's JSON, unquoted:
    ``{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:15}}`` (remoting spec 4.11).
    """
    if isinstance(obj, dict):
        parts = []
        for k, v in obj.items():
            if isinstance(k, tuple):
                key = dumps_object_keys(dict(k))
            elif isinstance(k, int) and not isinstance(k, bool):
                key = str(k)
            else:
                key = json.dumps(str(k), ensure_ascii=False)
            parts.append(f"{key}:{dumps_object_keys(v)}")
        return "{" + ",".join(parts) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(dumps_object_keys(v) for v in obj) + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def loads_object_keys(data: bytes | str) -> Any:
    """Parse fastjson output whose maps may have object keys; such keys become :data:`ObjectKey`."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    value, end = _ObjectKeyParser(text).value(0)
    if text[end:].strip():
        raise ValueError(f"trailing data at {end}")
    return value


class _ObjectKeyParser:
    """Small recursive parser: standard JSON plus unquoted integer and object map keys."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder()

    def _skip(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in " \t\r\n":
            pos += 1
        return pos

    def value(self, pos: int) -> tuple[Any, int]:
        pos = self._skip(pos)
        if pos < len(self.text) and self.text[pos] == "{":
            return self._object(pos + 1)
        if pos < len(self.text) and self.text[pos] == "[":
            items: list[Any] = []
            pos = self._skip(pos + 1)
            if self.text[pos] == "]":
                return items, pos + 1
            while True:
                item, pos = self.value(pos)
                items.append(item)
                pos = self._skip(pos)
                if self.text[pos] == "]":
                    return items, pos + 1
                if self.text[pos] != ",":
                    raise ValueError(f"expected , or ] at {pos}")
                pos += 1
        value, end = self.decoder.raw_decode(self.text, pos)
        return value, end

    def _object(self, pos: int) -> tuple[dict[Any, Any], int]:
        out: dict[Any, Any] = {}
        pos = self._skip(pos)
        if self.text[pos] == "}":
            return out, pos + 1
        while True:
            pos = self._skip(pos)
            key: Any
            if self.text[pos] == "{":
                obj, pos = self._object(pos + 1)
                key = tuple(sorted(obj.items()))
            elif self.text[pos] == '"':
                key, pos = self.decoder.raw_decode(self.text, pos)
            else:
                m = re.compile(r"-?\d+").match(self.text, pos)
                if m is None:
                    raise ValueError(f"bad key at {pos}")
                key, pos = int(m.group()), m.end()
            pos = self._skip(pos)
            if self.text[pos] != ":":
                raise ValueError(f"expected : at {pos}")
            out[key], pos = self.value(pos + 1)
            pos = self._skip(pos)
            if self.text[pos] == "}":
                return out, pos + 1
            if self.text[pos] != ",":
                raise ValueError(f"expected , or }} at {pos}")
            pos += 1
