"""Apache RocketMQ's master/slave HA stream, as pure byte codecs (no sockets).

Plain TCP on the master's ``haListenPort``; the slave connects. Big-endian throughout
(storage spec §7.2):

=================  =========================================  ==========================================
direction          frame                                      meaning
=================  =========================================  ==========================================
slave -> master    ``[maxPhyOffset: long]`` (8 bytes)          the slave's commit-log end = next byte it
                                                              needs; also its acknowledgement
master -> slave    ``[phyOffset: long][bodySize: int]`` +      ``bodySize`` raw commit-log bytes starting
                   ``bodySize`` bytes (12-byte header)         at ``phyOffset``; ``bodySize = 0`` is a
                                                              heartbeat
=================  =========================================  ==========================================

The master only ever uses the *last complete* 8-byte report in what it has received
(``pos - pos % 8``), so several queued reports collapse into one. The slave appends each frame's data
at ``phyOffset``; the data is raw commit-log bytes cut at ``haTransferBatchSize`` and may end in the
middle of a record.

:class:`ReportDecoder` (master side) and :class:`TransferDecoder` (slave side) are fed whatever
``recv`` returned and hand back complete values; two of them can be piped into each other in tests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from broker_core.errors import RemoteProtocolError

__all__ = [
    "REPORT",
    "TRANSFER_HEADER",
    "ReportDecoder",
    "TransferDecoder",
    "TransferFrame",
    "encode_report",
    "encode_transfer",
]

#: slave -> master: the slave's max physical offset.
REPORT = struct.Struct(">q")
#: master -> slave: data start offset and data length.
TRANSFER_HEADER = struct.Struct(">qi")
assert REPORT.size == 8 and TRANSFER_HEADER.size == 12

#: Apache's slave read buffer is 4 MiB; a frame body larger than that is a protocol violation.
MAX_TRANSFER_BODY = 4 * 1024 * 1024


def encode_report(max_phy_offset: int) -> bytes:
    """The 8-byte slave report."""
    return REPORT.pack(max_phy_offset)


def encode_transfer(phy_offset: int, data: bytes | memoryview = b"") -> bytes:
    """Header + data (an empty ``data`` is a heartbeat)."""
    return TRANSFER_HEADER.pack(phy_offset, len(data)) + bytes(data)


class ReportDecoder:
    """Master side: collects 8-byte reports; :meth:`feed` returns the newest complete one."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> int | None:
        """Add received bytes; the last complete report in them (None if none completed).

        Raises:
            RemoteProtocolError: a negative offset.
        """
        buf = self._buf
        buf += data
        whole = len(buf) - len(buf) % REPORT.size
        if whole == 0:
            return None
        (offset,) = REPORT.unpack_from(buf, whole - REPORT.size)
        del buf[:whole]
        if offset < 0:
            raise RemoteProtocolError(f"HA report with negative offset {offset}")
        return int(offset)


@dataclass(frozen=True, slots=True)
class TransferFrame:
    """One master -> slave frame."""

    phy_offset: int
    data: bytes

    @property
    def is_heartbeat(self) -> bool:
        """No data: the master is alive and at ``phy_offset``."""
        return not self.data


class TransferDecoder:
    """Slave side: splits the master's stream into :class:`TransferFrame` values."""

    def __init__(self, max_body: int = MAX_TRANSFER_BODY) -> None:
        self._buf = bytearray()
        self._max_body = max_body

    def feed(self, data: bytes) -> list[TransferFrame]:
        """Add received bytes; every frame they complete, in order.

        Raises:
            RemoteProtocolError: a negative offset or size, or a body over the limit.
        """
        buf = self._buf
        buf += data
        frames: list[TransferFrame] = []
        pos = 0
        header = TRANSFER_HEADER.size
        while len(buf) - pos >= header:
            offset, size = TRANSFER_HEADER.unpack_from(buf, pos)
            if offset < 0 or size < 0 or size > self._max_body:
                raise RemoteProtocolError(f"bad HA transfer header offset={offset} size={size}")
            if len(buf) - pos - header < size:
                break
            start = pos + header
            frames.append(TransferFrame(int(offset), bytes(buf[start : start + size])))
            pos = start + size
        if pos:
            del buf[:pos]
        return frames

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)
