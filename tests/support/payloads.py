"""Deterministic test messages: everything about message ``i`` is a pure function of ``i``.

Producers (the C++ client script, our client, benchmarks) build message ``i`` with
:func:`make_message`; consumers compare what they receive with :func:`make_message` of the index
found in the ``idx`` property. Standard library only: ``tests/interop/cpp_client.py`` imports this
module in a subprocess.

Content is chosen to exercise the codecs: multi-byte UTF-8 in bodies and property values, several
tags, keys with a space (RocketMQ's key separator), and every 10th body longer than 4 KiB so the
C++ producer compresses it (sysFlag bit 0). Bodies never contain NUL bytes: the C++ wrapper reads
bodies as C strings.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["DEFAULT_TAGS", "UTF8_SAMPLE", "TestMessage", "make_message", "fixed_body"]

UTF8_SAMPLE = "héllo-✓-中"
DEFAULT_TAGS = ("TagA", "TagB", "TagC")
#: user property names set on every message (the C++ wrapper cannot enumerate properties)
PROPERTY_NAMES = ("idx", "run", "utf8", "sha1")
_FILLER = "αβγδε-✓-中文-0123456789-abcdefghij|"  # 2- and 3-byte code points, no NUL


@dataclass(frozen=True)
class TestMessage:
    """Message ``idx`` of run ``run``."""

    __test__ = False  # not a pytest test class

    idx: int
    run: str
    tags: str
    keys: str
    body: bytes
    properties: dict[str, str] = field(default_factory=dict)


def _body(idx: int, run: str) -> bytes:
    head = f"body-{run}-{idx}-{UTF8_SAMPLE}-"
    size = 5000 if idx % 10 == 9 else 64 + (idx * 37) % 700  # every 10th > 4 KiB
    text = head + _FILLER * (size // len(_FILLER.encode()) + 1)
    return text.encode("utf-8")[:size].decode("utf-8", "ignore").encode("utf-8")


def make_message(idx: int, run: str = "r0", tags: tuple[str, ...] = DEFAULT_TAGS) -> TestMessage:
    """Build message ``idx``; ``tags`` is cycled (message ``i`` gets ``tags[i % len(tags)]``)."""
    body = _body(idx, run)
    return TestMessage(
        idx=idx,
        run=run,
        tags=tags[idx % len(tags)],
        keys=f"key-{run}-{idx} k2-{idx}",
        body=body,
        properties={
            "idx": str(idx),
            "run": run,
            "utf8": f"{UTF8_SAMPLE}-{idx}",
            "sha1": hashlib.sha1(body).hexdigest(),
        },
    )


def fixed_body(size: int) -> bytes:
    """An ASCII body of exactly ``size`` bytes (benchmarks)."""
    pattern = b"0123456789abcdefghijklmnopqrstuvwxyz"
    return (pattern * (size // len(pattern) + 1))[:size]
