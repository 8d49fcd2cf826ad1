"""Topic and group name rules (remoting §5.7), returning Apache's error remarks.

Validators return ``None`` when the name is fine, else the remark the broker (topics) or the Java
client (groups) would give, so callers can put it straight into a SYSTEM_ERROR response.
"""

from __future__ import annotations

import re

__all__ = [
    "GROUP_MAX_LENGTH",
    "TOPIC_MAX_LENGTH",
    "VALID_NAME_PATTERN",
    "is_name_legal",
    "validate_group",
    "validate_topic",
]

TOPIC_MAX_LENGTH = 127
GROUP_MAX_LENGTH = 255
VALID_NAME_PATTERN = "^[%|a-zA-Z0-9_-]+$"
# fullmatch, not match + "$": Python's "$" also matches before a trailing newline.
_LEGAL = re.compile(r"[%|a-zA-Z0-9_-]+")


def is_name_legal(name: str) -> bool:
    """True iff every character is in ``[%|a-zA-Z0-9_-]`` and the name is non-empty."""
    return _LEGAL.fullmatch(name) is not None


def _is_blank(name: str | None) -> bool:
    return name is None or not name.strip()


def validate_topic(name: str | None) -> str | None:
    """Check a topic name as the 4.9.8 broker does (blank, then characters, then length)."""
    if name is None or _is_blank(name):
        return "The specified topic is blank."
    if not is_name_legal(name):
        return f"The specified topic contains illegal characters, allowing only {VALID_NAME_PATTERN}"
    if len(name) > TOPIC_MAX_LENGTH:
        return "The specified topic is longer than topic max length."
    return None


def validate_group(name: str | None) -> str | None:
    """Check a group name as the Java client does (blank, length 255, characters)."""
    if name is None or _is_blank(name):
        return "the specified group is blank"
    if len(name) > GROUP_MAX_LENGTH:
        return f"the specified group is longer than group max length {GROUP_MAX_LENGTH}."
    if not is_name_legal(name):
        return f"the specified group[{name}] contains illegal characters, allowing only {VALID_NAME_PATTERN}"
    return None
