"""Responses whose body is a list of buffers (``body_parts``): same bytes on the wire, no join."""

from __future__ import annotations

import asyncio
import mmap

from broker_core.config.remoting import RemotingConfig
from broker_core.remoting.channel import Channel
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import SerializeType
from broker_core.remoting.command import RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher
from broker_core.remoting.frame import FrameDecoder, encode_frame, encode_frame_parts
from broker_core.remoting.server import RemotingServer

PARTS = 1005


def test_parts_encode_to_the_frame_of_the_joined_body() -> None:
    mm = mmap.mmap(-1, 4096)
    mm[:4096] = bytes(range(256)) * 16
    view = memoryview(mm)
    parts: list[bytes | memoryview] = [view[10:400], b"plain", view[1000:3000]]
    joined = b"".join(parts)
    for st in (SerializeType.JSON, SerializeType.ROCKETMQ):
        cmd = RemotingCommand(code=0, opaque=7, flag=1, ext_fields={"k": "v"}, serialize_type=st)
        reference = encode_frame(RemotingCommand(code=0, opaque=7, flag=1, ext_fields={"k": "v"}, body=joined,
                                                 serialize_type=st))  # fmt: skip
        cmd.body_parts = parts
        out = encode_frame_parts(cmd)
        assert out[1:] == parts and out[1] is parts[0]  # the views themselves, not copies
        assert b"".join(out) == reference == encode_frame(cmd)
        (decoded,) = FrameDecoder().feed(reference)
        assert decoded.body == joined


def test_channel_writes_a_parts_response_intact() -> None:
    mm = mmap.mmap(-1, 1 << 16)
    mm[:] = bytes(range(256)) * 256
    view = memoryview(mm)

    def handler(req: RemotingCommand, ch: Channel) -> RemotingCommand:
        resp = req.make_response(ext_fields={"n": "3"})
        resp.body_parts = [view[0:100], view[5000 : 5000 + 30000], view[40000:40001]]
        return resp

    async def main() -> None:
        d = Dispatcher()
        d.register(PARTS, handler)
        srv = RemotingServer(RemotingConfig(port=0), d)
        await srv.start()
        client = RemotingClient()
        try:
            addr = f"127.0.0.1:{srv.port}"
            many = await asyncio.gather(
                *(client.invoke(addr, RemotingCommand.request(PARTS)) for _ in range(20))
            )
            expect = bytes(mm[0:100]) + bytes(mm[5000:35000]) + bytes(mm[40000:40001])
            assert all(r.body == expect and r.ext_fields == {"n": "3"} for r in many)
        finally:
            await client.close()
            await srv.stop()

    asyncio.run(main())
