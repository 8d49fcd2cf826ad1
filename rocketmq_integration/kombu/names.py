"""Reversible encoding of kombu queue and exchange names into RocketMQ topic and group names.

RocketMQ names allow only ``[%|a-zA-Z0-9_-]`` (topics at most 127 characters, and the broker builds
``%RETRY%<group>_<topic>`` from a POP group and its topic, which must fit too). Celery's names use
``.``, ``@`` and ``:`` (``celery@host.celery.pidbox``, ``<uuid>.reply.celery.pidbox``,
``celeryev.<uuid>``). The encoding:

* ``[A-Za-z0-9-]`` stay as they are;
* ``.`` becomes ``_`` (the most common separator stays readable: ``celery_pidbox``);
* every other character becomes ``|`` + its code point in hex, ``|XX`` (two digits) below 256,
  ``|uXXXX`` / ``|UXXXXXX`` above (``_`` itself is ``|5f``, ``@`` is ``|40``).

:func:`decode` inverts it. A name whose encoding is longer than :data:`MAX_ENCODED` is shortened
to a prefix plus ``|h`` and a hash of the whole name; such a name cannot be decoded from the
topic alone (:func:`decode` returns None), and is unambiguous as long as hashes do not collide.
Exchange topics get the prefix ``|x`` which no encoded queue name can start with.
"""

from __future__ import annotations

import hashlib

__all__ = ["EXCHANGE_MARK", "MAX_ENCODED", "decode", "encode", "exchange_topic"]

#: longest encoded name kept whole: ``%RETRY%`` + group (prefix + name) + ``_`` + topic <= 127
MAX_ENCODED = 52
EXCHANGE_MARK = "|x"
_HASH_MARK = "|h"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def _escape(ch: str) -> str:
    if ch in _SAFE:
        return ch
    if ch == ".":
        return "_"
    code = ord(ch)
    if code < 0x100:
        return f"|{code:02x}"
    if code < 0x10000:
        return f"|u{code:04x}"
    return f"|U{code:06x}"


def encode(name: str, max_len: int = MAX_ENCODED) -> str:
    """The RocketMQ-safe form of ``name`` (deterministic; see the module docstring)."""
    if not name:
        raise ValueError("an empty name cannot be encoded")
    out = "".join(map(_escape, name))
    if len(out) <= max_len:
        return out
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).hexdigest()
    keep = out[: max_len - len(_HASH_MARK) - len(digest)]
    # never cut an escape sequence in half: drop a trailing partial ``|..``
    bar = keep.rfind("|")
    if bar >= 0 and bar > len(keep) - 8:
        keep = keep[:bar]
    return f"{keep}{_HASH_MARK}{digest}"


def decode(encoded: str) -> str | None:
    """The name ``encoded`` was made from, or None for a hashed (shortened) name."""
    out: list[str] = []
    i, n = 0, len(encoded)
    while i < n:
        ch = encoded[i]
        if ch == "_":
            out.append(".")
            i += 1
        elif ch == "|":
            kind = encoded[i + 1 : i + 2]
            if kind in ("h", "x"):
                return None
            width, start = {"u": (4, i + 2), "U": (6, i + 2)}.get(kind, (2, i + 1))
            digits = encoded[start : start + width]
            if len(digits) != width:
                raise ValueError(f"truncated escape in {encoded!r}")
            out.append(chr(int(digits, 16)))
            i = start + width
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def exchange_topic(exchange: str, max_len: int = MAX_ENCODED) -> str:
    """The topic carrying the messages of a fanout or topic exchange."""
    return EXCHANGE_MARK + encode(exchange, max_len - len(EXCHANGE_MARK))
