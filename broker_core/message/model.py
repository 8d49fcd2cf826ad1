"""Message value types shared by the client, the broker and the store.

* :class:`Message` — what a producer sends (topic, body, flag, properties).
* :class:`MessageExt` — a decoded stored record (pull/query/view bodies, store look-ups).
* :class:`BrokerMessage` — the store's put input, built by the broker from a SEND request. It carries
  the *encoded* properties string so the hot path never decodes/re-encodes properties.
* :class:`MessageQueue` — (topic, broker_name, queue_id), ordered like Java ``MessageQueue.compareTo``.

Message and MessageExt are mutable on purpose: clients set ``UNIQ_KEY`` before sending and add
``MIN_OFFSET``/``MAX_OFFSET`` to pulled messages, exactly as the Java client does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker_core.message.msg_id import create_offset_msg_id
from broker_core.message.properties import MessageConst

__all__ = ["BrokerMessage", "Message", "MessageExt", "MessageQueue"]


def _keys_text(keys: str | list[str] | tuple[str, ...]) -> str:
    return keys if isinstance(keys, str) else MessageConst.KEY_SEPARATOR.join(keys)


@dataclass(slots=True)
class Message:
    """A message as a producer builds it."""

    topic: str
    body: bytes
    flag: int = 0
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def tags(self) -> str | None:
        """The ``TAGS`` property."""
        return self.properties.get(MessageConst.TAGS)

    @tags.setter
    def tags(self, value: str | None) -> None:
        self._set(MessageConst.TAGS, value)

    @property
    def keys(self) -> str | None:
        """The ``KEYS`` property: space-separated business keys."""
        return self.properties.get(MessageConst.KEYS)

    @keys.setter
    def keys(self, value: str | list[str] | tuple[str, ...] | None) -> None:
        self._set(MessageConst.KEYS, None if value is None else _keys_text(value))

    @property
    def delay_time_level(self) -> int:
        """The ``DELAY`` level (0 = not delayed)."""
        return int(self.properties.get(MessageConst.DELAY, "0"))

    @delay_time_level.setter
    def delay_time_level(self, level: int) -> None:
        self._set(MessageConst.DELAY, str(level) if level > 0 else None)

    @property
    def wait_store_msg_ok(self) -> bool:
        """``WAIT`` property; absent means true."""
        return self.properties.get(MessageConst.WAIT, "true") != "false"

    @property
    def uniq_key(self) -> str | None:
        """The client message id (``UNIQ_KEY``), if set."""
        return self.properties.get(MessageConst.UNIQ_KEY)

    def _set(self, name: str, value: str | None) -> None:
        if value is None:
            self.properties.pop(name, None)
        else:
            self.properties[name] = value


@dataclass(slots=True)
class MessageExt:
    """A stored message decoded from its commit-log record."""

    topic: str
    queue_id: int
    queue_offset: int
    commit_log_offset: int
    store_size: int
    body_crc: int
    flag: int
    sys_flag: int
    born_timestamp: int
    born_host: tuple[str, int]
    store_timestamp: int
    store_host: tuple[str, int]
    reconsume_times: int
    prepared_transaction_offset: int
    body: bytes
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def offset_msg_id(self) -> str:
        """Broker id of the record: store host + commit-log offset."""
        return create_offset_msg_id(self.store_host, self.commit_log_offset)

    @property
    def msg_id(self) -> str:
        """What users call the msgId: ``UNIQ_KEY`` when present, else the offset msgId."""
        uniq = self.properties.get(MessageConst.UNIQ_KEY)
        return uniq if uniq else self.offset_msg_id

    @property
    def tags(self) -> str | None:
        """The ``TAGS`` property."""
        return self.properties.get(MessageConst.TAGS)

    @property
    def keys(self) -> str | None:
        """The ``KEYS`` property."""
        return self.properties.get(MessageConst.KEYS)

    def to_message(self) -> Message:
        """A sendable copy (topic, body, flag, properties) — used for retries and re-puts."""
        return Message(self.topic, self.body, self.flag, dict(self.properties))


@dataclass(frozen=True, order=True, slots=True)
class MessageQueue:
    """One queue of a topic on one broker; ordering matches Java (topic, broker, queue id)."""

    topic: str
    broker_name: str
    queue_id: int


@dataclass(slots=True)
class BrokerMessage:
    """Input of the store's put path.

    ``properties_str`` is the already-encoded properties string (the broker appends ``CLUSTER`` etc.
    with :func:`~broker_core.message.properties.append_property`). ``tags_code`` is the CQ tags code
    (the hash of ``TAGS``, or the delivery time for the schedule topic). The store reports the
    assigned offsets in its result and never mutates this object.
    """

    topic: str
    queue_id: int
    body: bytes
    properties_str: str = ""
    flag: int = 0
    tags_code: int = 0
    sys_flag: int = 0
    born_timestamp: int = 0
    born_host: tuple[str, int] = ("127.0.0.1", 0)
    store_host: tuple[str, int] = ("127.0.0.1", 10911)
    reconsume_times: int = 0
    prepared_transaction_offset: int = 0
