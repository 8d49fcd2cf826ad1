"""Parsing helpers shared by the ``broker.conf`` and ``namesrv`` readers: byte sizes with units,
enum values that list the valid ones, and "did you mean" for misspelt keys."""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterable
from typing import TypeVar

__all__ = ["did_you_mean", "parse_enum", "parse_size"]

E = TypeVar("E", bound=enum.Enum)

_SIZE = re.compile(r"(\d+)\s*([kmgt]?)(i?b)?", re.IGNORECASE)
_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(raw: str) -> int:
    """Bytes from ``4194304``, ``4MB``, ``4m``, ``4MiB``, ``512KB``, ``1g`` (binary multiples, as
    RocketMQ's own defaults are: ``4MB`` = 4194304).

    Raises:
        ValueError: not an integer with an optional K/M/G/T unit.
    """
    match = _SIZE.fullmatch(raw.strip())
    if match is None:
        raise ValueError("expected a byte count such as 4194304, 512KB, 4MB or 1GB")
    return int(match.group(1)) * _FACTORS[match.group(2).lower()]


def parse_enum(kind: type[E], raw: str) -> E:
    """The member of ``kind`` whose value is ``raw`` (case-insensitive).

    Raises:
        ValueError: naming the valid values.
    """
    wanted = raw.strip().upper()
    for member in kind:
        if str(member.value).upper() == wanted:
            return member
    valid = ", ".join(str(m.value) for m in kind)
    raise ValueError(f"expected one of {valid}")


def did_you_mean(key: str, known: Iterable[str]) -> str | None:
    """The known key closest to a misspelt ``key`` (case-insensitive), or None."""
    by_lower = {k.lower(): k for k in known}
    if key.lower() in by_lower:
        return by_lower[key.lower()]
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.75)
    return by_lower[close[0]] if close else None
