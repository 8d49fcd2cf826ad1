"""Bits of the ``sysFlag`` word carried by every stored record and every send request.

The broker reads this word to know the shape of a record (IPv6 host fields are 20 bytes instead of 8),
whether the body is compressed (the broker never decompresses; the consumer does), and the transaction
type (prepared and rollback records are stored but never dispatched to a consume queue).

| Bit / mask | Name                       | Meaning                                            |
|------------|----------------------------|----------------------------------------------------|
| 0x1        | COMPRESSED                 | body compressed by the producer                    |
| 0x2        | MULTI_TAGS                 | topic filter type MULTI_TAG                        |
| 0xC        | transaction type (2 bits)  | 0 NOT, 0x4 PREPARED, 0x8 COMMIT, 0xC ROLLBACK      |
| 0x10       | BORNHOST_V6                | born host field is 16+4 bytes                      |
| 0x20       | STOREHOSTADDRESS_V6        | store host field is 16+4 bytes                    |
| 0x40       | NEED_UNWRAP                | 5.x inner batch                                    |
| 0x80       | INNER_BATCH                | 5.x inner batch                                    |
| 0x700      | compression type           | 0x100 LZ4, 0x200 ZSTD, 0x300 ZLIB; 0 means zlib    |
"""

from __future__ import annotations

import enum

__all__ = [
    "COMPRESSION_TYPE_MASK",
    "TRANSACTION_TYPE_MASK",
    "CompressionType",
    "MessageSysFlag",
    "TransactionType",
    "clear_transaction_value",
    "compression_type",
    "reset_transaction_value",
    "transaction_value",
]


class MessageSysFlag(enum.IntFlag):
    """Individual sysFlag bits (RocketMQ ``MessageSysFlag``)."""

    COMPRESSED = 0x1
    MULTI_TAGS = 0x2
    TRANSACTION_PREPARED = 0x4
    TRANSACTION_COMMIT = 0x8
    TRANSACTION_ROLLBACK = 0xC
    BORNHOST_V6 = 0x10
    STOREHOSTADDRESS_V6 = 0x20
    NEED_UNWRAP = 0x40
    INNER_BATCH = 0x80
    COMPRESSION_LZ4 = 0x100
    COMPRESSION_ZSTD = 0x200
    COMPRESSION_ZLIB = 0x300


TRANSACTION_TYPE_MASK = 0xC
COMPRESSION_TYPE_MASK = 0x700


class TransactionType(enum.IntEnum):
    """Value of ``sysFlag & 0xC``."""

    NOT_TYPE = 0x0
    PREPARED = 0x4
    COMMIT = 0x8
    ROLLBACK = 0xC


class CompressionType(enum.IntEnum):
    """Value of ``sysFlag & 0x700``; 0 (old clients) is treated as zlib."""

    NONE_SPECIFIED = 0x0
    LZ4 = 0x100
    ZSTD = 0x200
    ZLIB = 0x300


def transaction_value(flag: int) -> int:
    """Return the transaction type bits (``flag & 0xC``) as a plain int (hot path, no enum)."""
    return flag & TRANSACTION_TYPE_MASK


def reset_transaction_value(flag: int, tx_type: int) -> int:
    """Return ``flag`` with its transaction bits replaced by ``tx_type``."""
    return (flag & ~TRANSACTION_TYPE_MASK) | tx_type


def clear_transaction_value(flag: int) -> int:
    """Return ``flag`` with transaction bits cleared (NOT_TYPE)."""
    return flag & ~TRANSACTION_TYPE_MASK


def compression_type(flag: int) -> CompressionType:
    """Return the compression algorithm of a compressed body; type bits 0 mean zlib (old clients)."""
    bits = flag & COMPRESSION_TYPE_MASK
    if bits == 0:
        return CompressionType.ZLIB
    return CompressionType(bits)
