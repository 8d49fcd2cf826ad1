"""Destination parsing and payload → :class:`Message` building for :class:`RocketMQTemplate`.

Kept apart from the sending code because every template flavour (sync, async, request-reply,
transactions, timer messages) builds its messages the same way: ``destination`` is ``topic`` or
``topic:tag`` (split on the first ``:``), the payload goes through the template's converter
(``contentType`` user property set), ``headers`` become user properties except the few names with a
meaning of their own (keys, flag, wait-store-ok), and ``keys`` set the ``KEYS`` property.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from broker_core.message.model import Message
from broker_core.message.properties import MessageConst
from rocketmq_integration.client.sending import set_uniq_id
from rocketmq_integration.converters import CONTENT_TYPE_PROPERTY, MessageConverter
from rocketmq_integration.errors import ValidationError

__all__ = ["build_message", "parse_destination"]

#: header names with a meaning of their own (everything else becomes a user property)
_KEYS_HEADERS = ("KEYS", "rocketmq_KEYS")
_FLAG_HEADERS = ("FLAG", "rocketmq_FLAG")
_WAIT_HEADERS = ("WAIT_STORE_MSG_OK", "rocketmq_WAIT_STORE_MSG_OK")


def parse_destination(destination: str) -> tuple[str, str]:
    """``"topic:tag"`` -> ``("topic", "tag")``; ``"topic"`` -> ``("topic", "")``."""
    if not destination or not destination.strip():
        raise ValidationError("destination must be 'topic' or 'topic:tag'")
    topic, _, tag = destination.partition(":")
    if not topic:
        raise ValidationError(f"destination {destination!r} has no topic")
    return topic, tag


def build_message(
    converter: MessageConverter,
    destination: str,
    payload: Any,
    *,
    keys: str | Sequence[str] | None = None,
    headers: Mapping[str, Any] | None = None,
    delay_level: int = 0,
) -> Message:
    """Convert ``payload`` with ``converter`` into a :class:`Message` for ``destination``.

    A :class:`Message` payload is copied, retargeted to the destination's topic/tag, and keeps
    its ``UNIQ_KEY`` msg id (assigned to the original on first use), so sending the same object
    twice is a duplicate that idempotent listeners recognise.
    """
    topic, tag = parse_destination(destination)
    if isinstance(payload, Message):
        set_uniq_id(payload)  # re-sending the same Message object is a re-send of the same msg id
        msg = Message(topic, payload.body, payload.flag, dict(payload.properties))
    else:
        body, content_type = converter.to_message(payload)
        msg = Message(topic, body, properties={CONTENT_TYPE_PROPERTY: content_type})
    if tag:
        msg.tags = tag
    for name, value in (headers or {}).items():
        if value is None:
            continue
        if name in _KEYS_HEADERS:
            msg.keys = value if isinstance(value, str) else tuple(str(v) for v in value)
        elif name in _FLAG_HEADERS:
            msg.flag = int(value)
        elif name in _WAIT_HEADERS:
            msg.properties[MessageConst.WAIT] = "true" if value else "false"
        else:
            msg.properties[str(name)] = str(value)
    if keys:
        msg.keys = keys if isinstance(keys, str) else tuple(keys)
    if delay_level:
        if delay_level < 0:
            raise ValidationError(f"delay_level must be >= 0, got {delay_level}")
        msg.delay_time_level = delay_level
    return msg
