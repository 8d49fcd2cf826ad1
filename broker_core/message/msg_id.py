"""Message ids: the broker's *offset msgId* and the client's *UNIQ_KEY*.

Offset msgId (broker generated; decodes to the store host and the commit-log offset)::

    | store host address | store port | commit-log offset |
    | 4 (IPv4) / 16 (v6) | int32 4    | int64 8           |   -> 32 / 56 uppercase hex chars

UNIQ_KEY (client generated, ``MessageClientIDSetter``; opaque to the broker)::

    | ip 4 / 16 | pid low 16 bits | per-process random int | ms since start of month | counter |
    | bytes     | short 2         | int 4                  | int 4                   | short 2 |
                                                                -> 32 / 56 uppercase hex chars

The first part (ip, pid, random) is fixed per process and formatted once; the hot path formats only
the six trailing bytes.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import itertools
import os
import random
import socket
import struct
import time
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "UniqIdGenerator",
    "UniqIdInfo",
    "address_bytes",
    "create_offset_msg_id",
    "decode_offset_msg_id",
    "offset_msg_id_prefix",
    "parse_uniq_id",
]

_PORT = struct.Struct(">i")
_TAIL = struct.Struct(">iH")


@lru_cache(maxsize=1024)
def address_bytes(host: str) -> bytes:
    """Packed 4- or 16-byte address of a literal IPv4/IPv6 host (cached; hosts repeat)."""
    return ipaddress.ip_address(host).packed


def offset_msg_id_prefix(store_host: tuple[str, int]) -> str:
    """Hex prefix (address + port) shared by every offset msgId of one store host."""
    host, port = store_host
    return (address_bytes(host) + _PORT.pack(port)).hex().upper()


def create_offset_msg_id(store_host: tuple[str, int], commit_log_offset: int) -> str:
    """Offset msgId of the record at ``commit_log_offset`` stored by ``store_host``."""
    return f"{offset_msg_id_prefix(store_host)}{commit_log_offset:016X}"


def decode_offset_msg_id(msg_id: str) -> tuple[tuple[str, int], int]:
    """Return ``((host, port), commit_log_offset)`` of an offset msgId.

    Raises:
        ValueError: not 32 (IPv4) or 56 (IPv6) hex characters.
    """
    raw = bytes.fromhex(msg_id)
    if len(raw) == 16:
        addr_len = 4
    elif len(raw) == 28:
        addr_len = 16
    else:
        raise ValueError(f"offset msgId must be 32 or 56 hex chars, got {len(msg_id)}")
    host = str(ipaddress.ip_address(raw[:addr_len]))
    (port,) = _PORT.unpack_from(raw, addr_len)
    (offset,) = struct.unpack_from(">q", raw, addr_len + 4)
    return (host, port), offset


def _month_start_ms(now_ms: int) -> tuple[int, int]:
    """(start of the current local month, start of the next one) in epoch ms."""
    now = _dt.datetime.fromtimestamp(now_ms / 1000).astimezone()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (start + _dt.timedelta(days=32)).replace(day=1)
    return int(start.timestamp() * 1000), int(nxt.timestamp() * 1000)


def _local_ip() -> bytes:
    """Best-effort non-loopback IPv4 of this host (as the Java client does), else 127.0.0.1."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: connect() on UDP only picks a route
            return socket.inet_aton(s.getsockname()[0])
    except OSError:
        return socket.inet_aton("127.0.0.1")


class UniqIdGenerator:
    """Creates client message ids (``UNIQ_KEY``), 32 hex chars for an IPv4 host.

    Not thread-safe by design of the counter (``itertools.count`` is atomic under the GIL, so in
    practice concurrent callers get distinct counters).
    """

    def __init__(self, ip: bytes | None = None, pid: int | None = None, seed: int | None = None) -> None:
        ip_bytes = _local_ip() if ip is None else ip
        if len(ip_bytes) not in (4, 16):
            raise ValueError("ip must be 4 or 16 bytes")
        pid_short = (os.getpid() if pid is None else pid) & 0xFFFF
        rand = random.Random(seed).getrandbits(32) if seed is not None else random.getrandbits(32)
        self._fix = (ip_bytes + struct.pack(">HI", pid_short, rand)).hex().upper()
        self._counter = itertools.count()
        self._start_ms = 0
        self._next_start_ms = 0

    @property
    def fixed_prefix(self) -> str:
        """The per-process part (ip, pid, random int) in hex."""
        return self._fix

    def create(self, now_ms: int | None = None) -> str:
        """Return a new id."""
        current = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        if current >= self._next_start_ms or current < self._start_ms:
            self._start_ms, self._next_start_ms = _month_start_ms(current)
        # Java casts the month-relative ms to int: it wraps after ~24.8 days; tiny negatives become 0.
        diff = ((current - self._start_ms + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        if -1_000_000 < diff < 0:
            diff = 0
        return self._fix + _TAIL.pack(diff, next(self._counter) & 0xFFFF).hex().upper()


@dataclass(frozen=True, slots=True)
class UniqIdInfo:
    """Fields recovered from a UNIQ_KEY (the random int is meaningless and omitted)."""

    ip: str
    pid: int
    month_ms: int
    counter: int

    def nearly_timestamp(self, now_ms: int | None = None) -> int:
        """Approximate creation time: the start of this (or, if in the future, last) month + offset."""
        current = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        start, _ = _month_start_ms(current)
        ts = start + self.month_ms
        if ts > current:
            prev_start, _ = _month_start_ms(start - 1)
            ts = prev_start + self.month_ms
        return ts


def parse_uniq_id(uniq_id: str) -> UniqIdInfo:
    """Decode a 32- or 56-hex-char UNIQ_KEY.

    Raises:
        ValueError: wrong length or not hex.
    """
    raw = bytes.fromhex(uniq_id)
    if len(raw) == 16:
        ip_len = 4
    elif len(raw) == 28:
        ip_len = 16
    else:
        raise ValueError(f"UNIQ_KEY must be 32 or 56 hex chars, got {len(uniq_id)}")
    ip = str(ipaddress.ip_address(raw[:ip_len]))
    # month_ms read unsigned: undoes the int32 wrap of the writer (a month is < 2**32 ms).
    pid, _rand, month_ms, counter = struct.unpack_from(">HIIH", raw, ip_len)
    return UniqIdInfo(ip=ip, pid=pid, month_ms=month_ms, counter=counter)
