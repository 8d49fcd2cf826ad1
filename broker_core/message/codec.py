"""Commit-log record codec (also the pull/query/view response body format) and the batch body codec.

Record layout (big-endian; offsets for IPv4 born and store hosts; each IPv6 host field is 16+4 bytes
and shifts every later field by +12). Selected by sysFlag bits 0x10 (born v6) and 0x20 (store v6).

| #  | Field                      | Size    | Offset (v4)     | Notes                                  |
|----|----------------------------|---------|-----------------|----------------------------------------|
| 1  | TOTALSIZE                  | i32     | 0               | whole record length                    |
| 2  | MAGICCODE                  | i32     | 4               | 0xDAA320A7                             |
| 3  | BODYCRC                    | i32     | 8               | zlib.crc32(body) & 0x7FFFFFFF          |
| 4  | QUEUEID                    | i32     | 12              |                                        |
| 5  | FLAG                       | i32     | 16              | user flag                              |
| 6  | QUEUEOFFSET                | i64     | 20              | consume-queue index, set at append     |
| 7  | PHYSICALOFFSET             | i64     | 28              | own commit-log offset, set at append   |
| 8  | SYSFLAG                    | i32     | 36              | see ``sysflag.py``                     |
| 9  | BORNTIMESTAMP              | i64     | 40              |                                        |
| 10 | BORNHOST                   | 4+4     | 48              | address bytes + port (i32)             |
| 11 | STORETIMESTAMP             | i64     | 56              | set by the single writer               |
| 12 | STOREHOSTADDRESS           | 4+4     | 64              |                                        |
| 13 | RECONSUMETIMES             | i32     | 72              |                                        |
| 14 | PREPAREDTRANSACTIONOFFSET  | i64     | 76              |                                        |
| 15 | BODYLENGTH + BODY          | i32 + n | 84              |                                        |
| 16 | TOPICLENGTH + TOPIC        | u8 + t  | 88 + n          | <= 127 bytes                           |
| 17 | PROPERTIESLENGTH + PROPS   | i16 + p | 89 + n + t      | UTF-8 properties string, <= 32767      |

Record size = 91 + n + t + p (+12 per IPv6 host). A file's tail that cannot hold the next record gets
an 8-byte BLANK marker ``i32 remaining | i32 0xCBD43194``.

Batch body entry (SEND_BATCH_MESSAGE, remoting §5.4): ``i32 total | i32 magic(0) | i32 crc(0) |
i32 flag | i32 bodyLen + body | i16 propsLen + props`` — entry size 22 + n + p.

Encoding is split in two steps so the single writer can check the remaining file space before it
writes: :func:`prepare_record` encodes the variable parts once and computes the size;
:func:`write_record` packs the fixed fields and slice-assigns the parts straight into the mmap.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from broker_core.errors import MessageDecodeError
from broker_core.message.model import BrokerMessage, Message, MessageExt
from broker_core.message.msg_id import address_bytes
from broker_core.message.properties import decode_properties, encode_properties
from broker_core.message.sysflag import COMPRESSION_TYPE_MASK, MessageSysFlag

__all__ = [
    "BLANK_MAGIC_CODE",
    "END_FILE_MIN_BLANK_LENGTH",
    "MAX_PROPERTIES_LENGTH",
    "MAX_TOPIC_LENGTH",
    "MESSAGE_MAGIC_CODE",
    "MESSAGE_MAGIC_CODE_V2",
    "PreparedRecord",
    "ReadableBuffer",
    "WritableBuffer",
    "body_crc",
    "decode_batch",
    "decode_record",
    "decode_records",
    "encode_batch",
    "encode_blank_into",
    "encode_record",
    "encode_record_into",
    "head_struct",
    "prepare_record",
    "record_size",
    "write_record",
]

WritableBuffer = bytearray | memoryview | mmap.mmap
"""Anything records can be written into in place (the store passes the segment's mmap)."""
ReadableBuffer = bytes | bytearray | memoryview | mmap.mmap
"""Anything records can be decoded from."""

MESSAGE_MAGIC_CODE = -626843481  # 0xDAA320A7
MESSAGE_MAGIC_CODE_V2 = -626843477  # 0xDAA320AB (5.x; topic length is an i16) — decoded only
BLANK_MAGIC_CODE = -875286124  # 0xCBD43194
END_FILE_MIN_BLANK_LENGTH = 8
MAX_TOPIC_LENGTH = 127
MAX_PROPERTIES_LENGTH = 32767

# Fixed fields from TOTALSIZE up to and including BODYLENGTH, indexed by (sysFlag >> 4) & 3.
_HEAD_FORMATS = (">iiiiiqqiq4siq4siiqi", ">iiiiiqqiq16siq4siiqi", ">iiiiiqqiq4siq16siiqi",
                 ">iiiiiqqiq16siq16siiqi")  # fmt: skip
_HEADS = tuple(struct.Struct(f) for f in _HEAD_FORMATS)
assert [s.size for s in _HEADS] == [88, 100, 100, 112]
_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")
_BLANK = struct.Struct(">ii")
_BATCH_HEAD = struct.Struct(">iiiii")
assert _BATCH_HEAD.size == 20
_V6_BITS = int(MessageSysFlag.BORNHOST_V6 | MessageSysFlag.STOREHOSTADDRESS_V6)
_COMPRESSED = int(MessageSysFlag.COMPRESSED)


def head_struct(sys_flag: int) -> struct.Struct:
    """The fixed-field struct (TOTALSIZE..BODYLENGTH) for a record with this sysFlag."""
    return _HEADS[(sys_flag >> 4) & 3]


def record_size(body_len: int, topic_len: int, properties_len: int, sys_flag: int = 0) -> int:
    """Length of a record with the given variable-part lengths (bytes)."""
    return _HEADS[(sys_flag >> 4) & 3].size + body_len + 1 + topic_len + 2 + properties_len


def body_crc(body: bytes) -> int:
    """Body CRC as stored: CRC-32 with the sign bit cleared."""
    return zlib.crc32(body) & 0x7FFFFFFF


@lru_cache(maxsize=4096)
def _topic_bytes(topic: str) -> bytes:
    return topic.encode("utf-8")


@lru_cache(maxsize=1024)
def _host_str(addr: bytes) -> str:
    if len(addr) == 4:
        return f"{addr[0]}.{addr[1]}.{addr[2]}.{addr[3]}"
    import ipaddress

    return str(ipaddress.IPv6Address(addr))


class PreparedRecord(NamedTuple):
    """The variable parts of one record, encoded once, plus its final size and sysFlag."""

    size: int
    sys_flag: int
    topic: bytes
    properties: bytes
    born_addr: bytes
    store_addr: bytes
    body_crc: int


def prepare_record(msg: BrokerMessage) -> PreparedRecord:
    """Encode topic/properties/hosts of ``msg``, set the IPv6 host bits, compute CRC and size."""
    topic_b = _topic_bytes(msg.topic)
    props_b = msg.properties_str.encode("utf-8")
    born_addr = address_bytes(msg.born_host[0])
    store_addr = address_bytes(msg.store_host[0])
    sys_flag = msg.sys_flag & ~_V6_BITS
    if len(born_addr) == 16:
        sys_flag |= 0x10
    if len(store_addr) == 16:
        sys_flag |= 0x20
    size = _HEADS[(sys_flag >> 4) & 3].size + len(msg.body) + 3 + len(topic_b) + len(props_b)
    return PreparedRecord(
        size, sys_flag, topic_b, props_b, born_addr, store_addr, zlib.crc32(msg.body) & 0x7FFFFFFF
    )


def write_record(
    buf: WritableBuffer,
    pos: int,
    msg: BrokerMessage,
    prep: PreparedRecord,
    queue_offset: int,
    phy_offset: int,
    store_timestamp: int,
) -> None:
    """Write the record described by ``msg``/``prep`` at ``buf[pos:pos+prep.size]``.

    ``buf`` may be an ``mmap`` (it supports the same buffer protocol and slice assignment).
    """
    sys_flag = prep.sys_flag
    head = _HEADS[(sys_flag >> 4) & 3]
    body = msg.body
    blen = len(body)
    head.pack_into(
        buf, pos, prep.size, MESSAGE_MAGIC_CODE, prep.body_crc, msg.queue_id, msg.flag, queue_offset,
        phy_offset, sys_flag, msg.born_timestamp, prep.born_addr, msg.born_host[1], store_timestamp,
        prep.store_addr, msg.store_host[1], msg.reconsume_times, msg.prepared_transaction_offset, blen,
    )  # fmt: skip
    p = pos + head.size
    buf[p : p + blen] = body
    p += blen
    topic_b = prep.topic
    tlen = len(topic_b)
    buf[p] = tlen
    buf[p + 1 : p + 1 + tlen] = topic_b
    p += 1 + tlen
    props_b = prep.properties
    plen = len(props_b)
    _I16.pack_into(buf, p, plen)
    buf[p + 2 : p + 2 + plen] = props_b


def encode_record_into(
    buf: WritableBuffer,
    pos: int,
    msg: BrokerMessage,
    queue_offset: int,
    phy_offset: int,
    store_timestamp: int,
) -> int:
    """Prepare and write one record at ``buf[pos]``; returns its size. The caller guarantees room."""
    prep = prepare_record(msg)
    write_record(buf, pos, msg, prep, queue_offset, phy_offset, store_timestamp)
    return prep.size


def encode_record(
    msg: BrokerMessage, queue_offset: int = 0, phy_offset: int = 0, store_timestamp: int = 0
) -> bytes:
    """Encode one record into new bytes (tests, tools; the store writes in place)."""
    prep = prepare_record(msg)
    buf = bytearray(prep.size)
    write_record(buf, 0, msg, prep, queue_offset, phy_offset, store_timestamp)
    return bytes(buf)


def encode_blank_into(buf: WritableBuffer, pos: int, remaining: int) -> None:
    """Write the 8-byte end-of-file marker (remaining byte count + BLANK magic)."""
    _BLANK.pack_into(buf, pos, remaining, BLANK_MAGIC_CODE)


def _decompress(body: bytes, sys_flag: int, pos: int) -> bytes:
    ctype = sys_flag & COMPRESSION_TYPE_MASK
    try:
        if ctype in (0, 0x300):
            return zlib.decompress(body)
        if ctype == 0x100:
            import lz4.frame  # type: ignore[import-not-found]

            return bytes(lz4.frame.decompress(body))
        if ctype == 0x200:
            import zstandard  # type: ignore[import-not-found]

            return bytes(zstandard.ZstdDecompressor().decompress(body))
    except (ImportError, zlib.error) as exc:
        raise MessageDecodeError(f"cannot decompress body (sysFlag {sys_flag:#x}): {exc}", pos) from exc
    raise MessageDecodeError(f"unknown compression type {ctype:#x}", pos)


def decode_record(
    buf: ReadableBuffer, pos: int = 0, *, decompress: bool = False, read_body: bool = True
) -> MessageExt:
    """Decode the record starting at ``buf[pos]``.

    Args:
        buf: any buffer (an mmap, a memoryview of a pull body ...).
        pos: position of TOTALSIZE.
        decompress: zlib-decompress a COMPRESSED body and clear the COMPRESSED bit (client side).
        read_body: when false the body is returned empty (index/look-up paths).

    Raises:
        MessageDecodeError: bad magic, or the lengths overrun the record/buffer.
    """
    end_of_buf = len(buf)
    if pos + 40 > end_of_buf:
        raise MessageDecodeError("truncated record header", pos)
    total, magic = _BLANK.unpack_from(buf, pos)
    if magic != MESSAGE_MAGIC_CODE and magic != MESSAGE_MAGIC_CODE_V2:
        raise MessageDecodeError(f"bad magic code {magic & 0xFFFFFFFF:#010x}", pos)
    if total <= 0 or pos + total > end_of_buf:
        raise MessageDecodeError(f"bad total size {total}", pos)
    (sys_flag,) = _I32.unpack_from(buf, pos + 36)
    head = _HEADS[(sys_flag >> 4) & 3]
    (
        _t, _m, crc, queue_id, flag, queue_offset, phy_offset, sys_flag, born_ts, born_addr, born_port,
        store_ts, store_addr, store_port, reconsume, prepared, blen,
    ) = head.unpack_from(buf, pos)  # fmt: skip
    p = pos + head.size
    end = pos + total
    if blen < 0 or p + blen > end:
        raise MessageDecodeError(f"bad body length {blen}", pos)
    body = bytes(buf[p : p + blen]) if read_body else b""
    p += blen
    if magic == MESSAGE_MAGIC_CODE:
        tlen = buf[p]
        p += 1
    else:
        (tlen,) = _I16.unpack_from(buf, p)
        p += 2
    topic = bytes(buf[p : p + tlen]).decode("utf-8")
    p += tlen
    (plen,) = _I16.unpack_from(buf, p)
    p += 2
    if plen < 0 or p + plen > end:
        raise MessageDecodeError(f"bad properties length {plen}", pos)
    props = decode_properties(bytes(buf[p : p + plen]).decode("utf-8")) if plen else {}
    if decompress and read_body and sys_flag & _COMPRESSED:
        body = _decompress(body, sys_flag, pos)
        sys_flag &= ~_COMPRESSED
    return MessageExt(
        topic=topic, queue_id=queue_id, queue_offset=queue_offset, commit_log_offset=phy_offset,
        store_size=total, body_crc=crc, flag=flag, sys_flag=sys_flag, born_timestamp=born_ts,
        born_host=(_host_str(born_addr), born_port), store_timestamp=store_ts,
        store_host=(_host_str(store_addr), store_port), reconsume_times=reconsume,
        prepared_transaction_offset=prepared, body=body, properties=props,
    )  # fmt: skip


def decode_records(body: ReadableBuffer, *, decompress: bool = False) -> list[MessageExt]:
    """Split a pull/query/view response body on TOTALSIZE and decode every record."""
    out: list[MessageExt] = []
    pos = 0
    n = len(body)
    while pos < n:
        msg = decode_record(body, pos, decompress=decompress)
        out.append(msg)
        pos += msg.store_size
    return out


def encode_batch(messages: Sequence[Message]) -> bytes:
    """Encode messages as a SEND_BATCH_MESSAGE body (per-message simplified records)."""
    parts: list[bytes] = []
    for msg in messages:
        props_b = encode_properties(msg.properties).encode("utf-8")
        if len(props_b) > MAX_PROPERTIES_LENGTH:
            raise ValueError(f"properties of a batch entry exceed {MAX_PROPERTIES_LENGTH} bytes")
        size = _BATCH_HEAD.size + len(msg.body) + 2 + len(props_b)
        parts.append(_BATCH_HEAD.pack(size, 0, 0, msg.flag, len(msg.body)))
        parts.append(msg.body)
        parts.append(_I16.pack(len(props_b)))
        parts.append(props_b)
    return b"".join(parts)


def decode_batch(body: ReadableBuffer) -> list[tuple[int, bytes, str]]:
    """Decode a batch body into ``(flag, body, properties_str)`` per entry.

    Raises:
        MessageDecodeError: an entry's lengths overrun the body.
    """
    out: list[tuple[int, bytes, str]] = []
    pos = 0
    n = len(body)
    while pos < n:
        if pos + _BATCH_HEAD.size > n:
            raise MessageDecodeError("truncated batch entry", pos)
        # Like Java, TOTALSIZE is not trusted: entries are walked by their own lengths.
        _total, _magic, _crc, flag, blen = _BATCH_HEAD.unpack_from(body, pos)
        p = pos + _BATCH_HEAD.size
        if blen < 0 or p + blen + 2 > n:
            raise MessageDecodeError(f"bad batch body length {blen}", pos)
        entry_body = bytes(body[p : p + blen])
        p += blen
        (plen,) = _I16.unpack_from(body, p)
        p += 2
        if plen < 0 or p + plen > n:
            raise MessageDecodeError(f"bad batch properties length {plen}", pos)
        props = bytes(body[p : p + plen]).decode("utf-8")
        p += plen
        out.append((flag, entry_body, props))
        pos = p
    return out
