"""Responses encoded straight to bytes (the send hot path) are the frames the generic encoder writes."""

from __future__ import annotations

import asyncio

import pytest

from broker_core.config.remoting import RemotingConfig
from broker_core.remoting.channel import Channel
from broker_core.remoting.client import RemotingClient
from broker_core.remoting.codes import LanguageCode, ResponseCode, SerializeType
from broker_core.remoting.command import FLAG_ONEWAY, RemotingCommand
from broker_core.remoting.dispatcher import Dispatcher, Reply
from broker_core.remoting.frame import FrameDecoder, encode_frame, encode_response_frame
from broker_core.remoting.server import RemotingServer

FIELD_SETS = [
    {},
    {"msgId": "7F00000100002A9F0000000000000517", "queueId": "3", "queueOffset": "0"},
    {
        "msgId": "7F00000100002A9F00000000000002E7,7F00000100002A9F00000000000003FF",
        "queueId": "0",
        "queueOffset": "123456789012",
        "MSG_REGION": 'Def"ault\\Region\n\x01',
        "TRACE_ON": "true",
        "transactionId": "héllo-✓-中",
    },
]


@pytest.mark.parametrize("serialize", [SerializeType.JSON, SerializeType.ROCKETMQ])
@pytest.mark.parametrize("fields", FIELD_SETS)
@pytest.mark.parametrize("code", [ResponseCode.SUCCESS, ResponseCode.FLUSH_DISK_TIMEOUT])
@pytest.mark.parametrize("opaque", [0, 12, 0x7FFFFFFF])
def test_same_bytes_as_the_generic_encoder(
    serialize: SerializeType, fields: dict[str, str], code: int, opaque: int
) -> None:
    request = RemotingCommand(
        code=310, opaque=opaque, language=LanguageCode.JAVA, ext_fields={"b": "T"}, serialize_type=serialize
    )
    fast = encode_response_frame(request, code, dict(fields))
    response = request.make_response(code, None, dict(fields))
    assert fast == encode_frame(response)
    (decoded,) = FrameDecoder().feed(fast)
    assert decoded.is_response and decoded.opaque == opaque and decoded.code == code
    assert (decoded.ext_fields or {}) == fields and decoded.serialize_type == serialize


def test_a_handler_may_answer_with_frame_bytes_and_oneway_gets_none() -> None:
    """The channel writes a ``bytes`` answer as it is, also from a coroutine; oneway: nothing."""
    seen: list[int] = []

    def plain(req: RemotingCommand, ch: Channel) -> Reply:
        seen.append(req.opaque)
        return encode_response_frame(req, ResponseCode.SUCCESS, {"k": "plain"})

    async def later(req: RemotingCommand, ch: Channel) -> Reply:
        await asyncio.sleep(0.01)
        return encode_response_frame(req, ResponseCode.SUCCESS, {"k": "later"})

    dispatcher = Dispatcher()
    dispatcher.register(2000, plain)
    dispatcher.register(2001, later)

    async def main() -> None:
        srv = RemotingServer(RemotingConfig(port=0), dispatcher)
        await srv.start()
        client = RemotingClient()
        addr = f"127.0.0.1:{srv.port}"
        try:
            for st in (SerializeType.JSON, SerializeType.ROCKETMQ):
                for code, value in ((2000, "plain"), (2001, "later")):
                    resp = await client.invoke(
                        addr, RemotingCommand.request(code, {"x": "1"}, serialize_type=st)
                    )
                    assert resp.code == ResponseCode.SUCCESS and resp.ext_fields == {"k": value}
                    assert resp.serialize_type == st
            await client.invoke_oneway(addr, RemotingCommand(code=2000, flag=FLAG_ONEWAY))
            # the oneway request was handled (seen) and answered with nothing: the next answer on
            # the same connection is the next request's
            resp = await client.invoke(addr, RemotingCommand.request(2000))
            assert resp.ext_fields == {"k": "plain"} and len(seen) == 4
        finally:
            await client.close()
            await srv.stop()

    asyncio.run(main())
