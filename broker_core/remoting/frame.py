"""Frame encoding and incremental decoding (pure: bytes in, commands out).

| offset | size | field                                                         |
|--------|------|---------------------------------------------------------------|
| 0      | 4    | length = 4 + headerLength + bodyLength (bytes after this word) |
| 4      | 4    | serialize type (high byte) << 24 | headerLength (low 24 bits)  |
| 8      | h    | header (JSON text or ROCKETMQ binary)                          |
| 8 + h  | rest | body (absent when bodyLength is 0)                             |

The decoder enforces the maximum frame length (Java default 16 MiB, applied to ``length``) *before*
buffering the frame, so a peer cannot make us hold more than one maximum frame in memory.
"""

from __future__ import annotations

import struct

from broker_core.errors import (
    FrameTooLargeError,
    LocalProtocolError,
    NotRocketMQPeerError,
    RemoteProtocolError,
)
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.serialization import decode_header, encode_header, encode_response_header

_PREFIX = struct.Struct(">ii")
DEFAULT_MAX_FRAME_LENGTH = 16 * 1024 * 1024


def encode_frame_parts(cmd: RemotingCommand) -> list[bytes | memoryview]:
    """The frame for ``cmd`` as buffers to write in order; a ``body_parts`` body is not copied."""
    parts = cmd.body_parts
    if parts is None:
        return [encode_frame(cmd)]
    header = encode_header(cmd)
    hlen = len(header)
    if hlen > 0xFFFFFF:
        raise LocalProtocolError(f"header of {hlen} bytes does not fit 24 bits")
    blen = 0
    for part in parts:
        blen += part.nbytes if type(part) is memoryview else len(part)
    return [_PREFIX.pack(4 + hlen + blen, (int(cmd.serialize_type) << 24) | hlen) + header, *parts]


def encode_frame(cmd: RemotingCommand) -> bytes:
    """The whole frame for ``cmd``, length prefix included."""
    if cmd.body_parts is not None:
        return b"".join(encode_frame_parts(cmd))
    header = encode_header(cmd)
    hlen = len(header)
    if hlen > 0xFFFFFF:
        raise LocalProtocolError(f"header of {hlen} bytes does not fit 24 bits")
    body = cmd.body
    blen = len(body) if body else 0
    prefix = _PREFIX.pack(4 + hlen + blen, (int(cmd.serialize_type) << 24) | hlen)
    if blen:
        assert body is not None
        return b"".join((prefix, header, body))
    return prefix + header


def encode_response_frame(request: RemotingCommand, code: int, fields: dict[str, str]) -> bytes:
    """The whole frame of a bodiless, remark-less response to ``request`` with ext ``fields``.

    The same bytes as ``encode_frame(request.make_response(code, None, fields))``, in the request's
    serialisation, without the response command: handlers on the hot path return these bytes and
    the channel writes them as they are.
    """
    header = encode_response_header(request.serialize_type, code, request.opaque, fields)
    hlen = len(header)
    return b"".join((_PREFIX.pack(4 + hlen, (int(request.serialize_type) << 24) | hlen), header))


class FrameDecoder:
    """Incremental decoder: feed bytes, get whole commands.

    After a :class:`RemoteProtocolError` the stream is unusable (framing is lost) and the caller
    must close the connection, as the Java ``NettyDecoder`` does.
    """

    __slots__ = ("_buf", "_max")

    def __init__(self, max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH) -> None:
        self._buf = bytearray()
        self._max = max_frame_length

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[RemotingCommand]:
        """Add bytes; return the commands completed by them (possibly none)."""
        buf = self._buf
        buf += data
        out: list[RemotingCommand] = []
        pos = 0
        size = len(buf)
        while size - pos >= 8:
            length, ht = _PREFIX.unpack_from(buf, pos)
            if length > self._max:
                prefix = bytes(buf[pos : pos + 8])
                if all(32 <= b < 127 or b in (9, 10, 13) for b in prefix):
                    raise NotRocketMQPeerError(length, self._max, prefix)
                raise FrameTooLargeError(length, self._max)
            if length < 4:
                raise RemoteProtocolError(f"bad frame length {length}")
            if size - pos - 4 < length:
                break
            hlen = ht & 0xFFFFFF
            if hlen > length - 4:
                raise RemoteProtocolError(f"bad header length {hlen} for frame length {length}")
            start = pos + 8
            with memoryview(buf) as view:
                cmd = decode_header((ht >> 24) & 0xFF, view[start : start + hlen])
                blen = length - 4 - hlen
                if blen:
                    cmd.body = bytes(view[start + hlen : start + hlen + blen])
            out.append(cmd)
            pos += 4 + length
        if pos:
            del buf[:pos]
        return out
