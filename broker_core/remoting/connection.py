"""Sans-I/O remoting connection: bytes in, commands out; commands in, bytes out.

The asyncio server, the asyncio client and the blocking client all drive this one object, so the
protocol rules (framing, opaque assignment, response bit) live in exactly one place.
"""

from __future__ import annotations

import itertools

from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.frame import DEFAULT_MAX_FRAME_LENGTH, FrameDecoder, encode_frame

# Process-wide opaque counter, masked to 31 bits like the C++ client.
_opaques = itertools.count(1)


def next_opaque() -> int:
    return next(_opaques) & 0x7FFFFFFF


class RemotingConnection:
    """Framing state of one TCP connection."""

    __slots__ = ("_decoder",)

    def __init__(self, max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH) -> None:
        self._decoder = FrameDecoder(max_frame_length)

    def receive_data(self, data: bytes) -> list[RemotingCommand]:
        """Feed received bytes; returns whole commands. Raises RemoteProtocolError on garbage."""
        return self._decoder.feed(data)

    def send_request(self, cmd: RemotingCommand) -> bytes:
        """Assign a fresh opaque to a request and return its frame bytes."""
        cmd.opaque = next_opaque()
        return encode_frame(cmd)

    @staticmethod
    def send(cmd: RemotingCommand) -> bytes:
        """Frame bytes for a command whose opaque is already set (responses)."""
        return encode_frame(cmd)
