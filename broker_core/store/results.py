"""Outcomes of store operations: status enums and frozen result dataclasses.

Expected outcomes (a full disk, an offset past the end, a filter that matched nothing) are values,
never exceptions, so the broker maps them to response codes with a table lookup.

``AppendResult`` and ``PutResult`` are ``NamedTuple``s rather than frozen dataclasses: one of each is
built per put on the hot path, and a frozen dataclass costs ~3x more to construct (its ``__init__``
goes through ``object.__setattr__`` per field). They are just as immutable and typed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "AppendResult",
    "AppendStatus",
    "GetMessageStatus",
    "GetResult",
    "PutResult",
    "PutStatus",
    "QueryResult",
]


class PutStatus(enum.Enum):
    """``PutMessageStatus`` of Apache 4.9.8."""

    PUT_OK = "PUT_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"
    FLUSH_SLAVE_TIMEOUT = "FLUSH_SLAVE_TIMEOUT"
    SLAVE_NOT_AVAILABLE = "SLAVE_NOT_AVAILABLE"
    SERVICE_NOT_AVAILABLE = "SERVICE_NOT_AVAILABLE"
    CREATE_MAPEDFILE_FAILED = "CREATE_MAPEDFILE_FAILED"
    MESSAGE_ILLEGAL = "MESSAGE_ILLEGAL"
    PROPERTIES_SIZE_EXCEEDED = "PROPERTIES_SIZE_EXCEEDED"
    OS_PAGECACHE_BUSY = "OS_PAGECACHE_BUSY"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"

    @property
    def ok(self) -> bool:
        """True when the message is stored (flush/slave timeouts still store it)."""
        return self in (
            PutStatus.PUT_OK,
            PutStatus.FLUSH_DISK_TIMEOUT,
            PutStatus.FLUSH_SLAVE_TIMEOUT,
            PutStatus.SLAVE_NOT_AVAILABLE,
        )


class AppendStatus(enum.Enum):
    """Result of one append into the commit log (``AppendMessageStatus``)."""

    PUT_OK = "PUT_OK"
    END_OF_FILE = "END_OF_FILE"
    MESSAGE_SIZE_EXCEEDED = "MESSAGE_SIZE_EXCEEDED"
    PROPERTIES_SIZE_EXCEEDED = "PROPERTIES_SIZE_EXCEEDED"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"


class GetMessageStatus(enum.Enum):
    """Outcome of a read (``GetMessageStatus``); see storage spec §2.8 for the rules."""

    FOUND = "FOUND"
    NO_MATCHED_MESSAGE = "NO_MATCHED_MESSAGE"
    MESSAGE_WAS_REMOVING = "MESSAGE_WAS_REMOVING"
    OFFSET_FOUND_NULL = "OFFSET_FOUND_NULL"
    OFFSET_OVERFLOW_BADLY = "OFFSET_OVERFLOW_BADLY"
    OFFSET_OVERFLOW_ONE = "OFFSET_OVERFLOW_ONE"
    OFFSET_TOO_SMALL = "OFFSET_TOO_SMALL"
    NO_MATCHED_LOGIC_QUEUE = "NO_MATCHED_LOGIC_QUEUE"
    NO_MESSAGE_IN_QUEUE = "NO_MESSAGE_IN_QUEUE"


class AppendResult(NamedTuple):
    """Where a put landed.

    Attributes:
        wrote_offset: commit-log offset of the (first) record.
        wrote_bytes: bytes written (all records of a batch).
        msg_id: offset msgId; comma-joined list for a batch.
        store_timestamp: store time written into the record(s).
        logics_offset: queue offset of the (first) record.
        msg_num: number of records.
    """

    wrote_offset: int
    wrote_bytes: int
    msg_id: str
    store_timestamp: int
    logics_offset: int
    msg_num: int = 1


class PutResult(NamedTuple):
    """Result of ``put_message(s)``; ``append_result`` is None when nothing was written."""

    status: PutStatus
    append_result: AppendResult | None = None

    @property
    def ok(self) -> bool:
        """True when the message is stored."""
        return self.status.ok


@dataclass(frozen=True, slots=True)
class GetResult:
    """Result of ``get_message``.

    Attributes:
        status: see :class:`GetMessageStatus`.
        next_begin_offset: queue offset the consumer should pull from next.
        min_offset: queue min offset at read time.
        max_offset: queue max offset (next offset to be written) at read time.
        message_buffers: the raw stored records, in queue order (copies; safe to keep).
        message_queue_offsets: queue offset of each returned record.
        buffer_total_size: sum of the record sizes.
        suggest_pull_from_slave: the read went far behind the write position (§2.8 step 5).
    """

    status: GetMessageStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    message_buffers: list[bytes | memoryview] = field(default_factory=list)
    message_queue_offsets: list[int] = field(default_factory=list)
    buffer_total_size: int = 0
    suggest_pull_from_slave: bool = False

    @property
    def message_count(self) -> int:
        """Number of records returned."""
        return len(self.message_buffers)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Result of a key query: raw records (commit-log order) and the index's last update point."""

    records: list[bytes]
    index_last_update_timestamp: int
    index_last_update_phy_offset: int
